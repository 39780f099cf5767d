"""Settings of the one-INSERT ceiling's server (``bench/ceiling.py``): the production settings
module, unchanged, except that the URLconf adds the ceiling's view. Nothing outside
``bench/`` names this module, so the view exists only when a benchmark starts this server."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.ceiling_urls"
