"""Placeholder until structured logging lands."""

import logging


class RedactPersonalDataFilter(logging.Filter):
    pass


class RequestIdFilter(logging.Filter):
    pass


JsonFormatter = logging.Formatter
