"""Errors of the sign-in and two-factor services. Messages carry codes, never values."""

from __future__ import annotations


class TwoFactorError(Exception):
    """A two-factor change that cannot be made in the account's current state.

    ``code``: ``already_enabled``, ``not_started``, ``bad_code``, ``not_enabled`` or
    ``enrol_first`` (an owner must use two-factor before requiring it of the team).
    """

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code
