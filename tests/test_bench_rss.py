"""The soak's RSS sampler (bench/rss.py): it finds a process's children and judges growth."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import rss  # bench/ is a folder of scripts, not a package

pytestmark = pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc")

GRANDCHILD = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'input()'])"


def test_a_sample_covers_the_process_and_its_descendants() -> None:
    parent = subprocess.Popen([sys.executable, "-c", GRANDCHILD], stdin=subprocess.PIPE)
    try:
        watch = rss.RssWatch({"role": parent.pid}, every=3600)
        for _ in range(50):  # until the grandchild has started
            watch.series.clear()
            watch._sample()
            if len(watch.series) == 2:
                break
            time.sleep(0.1)
        names = sorted(watch.series)
        assert names[0] == f"role {parent.pid}"
        assert names[1].startswith("role child ")
        assert all(rss_mb > 1 for samples in watch.series.values() for _at, rss_mb in samples)
    finally:
        parent.communicate(b"\n", timeout=10)


def _verdict(figures: list[float]) -> bool:
    watch = rss.RssWatch({}, every=30)
    watch.series["web 1"] = [(30.0 * n, mb) for n, mb in enumerate(figures)]
    _lines, flat = watch.report()
    return flat


def test_growth_past_the_limit_in_the_last_third_is_not_flat() -> None:
    # The first sample (before the load) is left out: a warm-up from 80 MB is not growth.
    assert _verdict([80, 120, 121, 122, 122, 123, 124])
    assert not _verdict([80, 120, 125, 130, 136, 142, 150])


def test_a_process_that_ends_or_starts_during_the_load_counts_as_replaced() -> None:
    watch = rss.RssWatch({}, every=30)
    watch.series["web child 1"] = [(0.0, 100), (30.0, 101)]
    watch.series["web child 2"] = [(0.0, 100), (30.0, 101), (60.0, 101)]
    watch.series["web child 3"] = [(60.0, 90)]
    assert watch.replaced() == ["web child 1", "web child 3"]
