"""Refusals of privacy actions that are neither "not found" nor "invalid input"."""

from __future__ import annotations


class PrivacyActionRefused(Exception):
    """``code`` is one of the constants below; the API answers 409 (links: 410) with it."""

    ALREADY_ERASED = "already_erased"
    REQUEST_CLOSED = "request_closed"
    LINK_INVALID = "link_invalid"
    LINK_EXPIRED = "link_expired"
    LINK_USED = "link_used"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
