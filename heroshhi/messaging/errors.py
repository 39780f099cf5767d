"""WhatsApp Cloud API error codes → a readable reason of ours, and whether a retry can help.

The reason is our own wording, shown to staff next to a failed message; the provider's text
is never stored (it can quote the recipient). Codes come from reference/protocols.md §1.9.
A code we do not know gets a generic reason, and is retried only when the provider marks the
error ``is_transient`` (or the HTTP layer says so: 429, 5xx, timeouts).
"""

from __future__ import annotations

from dataclasses import dataclass

GENERIC_REASON = "WhatsApp refused the message."
NETWORK_REASON = "WhatsApp could not be reached; the message will be retried."


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    code: int | None
    reason: str
    transient: bool


# code → (reason, transient)
_KNOWN: dict[int, tuple[str, bool]] = {
    0: ("The channel's access token was refused; reconnect the channel.", False),
    190: ("The channel's access token has expired or is invalid; reconnect the channel.", False),
    3: ("The channel's app lacks a permission needed to send.", False),
    10: ("The channel's app lacks a permission needed to send.", False),
    4: ("Too many requests to WhatsApp from this app; retrying later.", True),
    80007: ("The WhatsApp Business Account's rate limit was reached; retrying later.", True),
    130429: ("This number's sending throughput was reached; retrying shortly.", True),
    131056: ("Too many messages to this contact in a short time; retrying shortly.", True),
    131048: ("The number is restricted because messages were reported as spam.", False),
    131049: (
        "WhatsApp held back this marketing message to limit messages to this contact; "
        "do not resend within 24 hours.",
        False,
    ),
    131050: ("The contact has stopped marketing messages from this business.", False),
    131047: (
        "More than 24 hours have passed since the contact last wrote; only approved "
        "templates can be sent.",
        False,
    ),
    131026: (
        "The message could not be delivered (not a WhatsApp user, an old app, or terms "
        "not accepted).",
        False,
    ),
    131051: ("WhatsApp does not support this message type.", False),
    131052: ("The contact's media could not be downloaded.", False),
    131053: ("The media could not be uploaded to WhatsApp.", False),
    131000: ("WhatsApp had an unknown error; retrying.", True),
    131016: ("WhatsApp is temporarily unavailable; retrying.", True),
    131008: ("A required part of the message was missing.", False),
    131009: ("A part of the message was not valid.", False),
    131021: ("The recipient is the channel's own number.", False),
    131030: ("The recipient is not on the test number's allowed list.", False),
    131031: ("The WhatsApp Business Account is locked.", False),
    131042: ("There is a payment problem with the WhatsApp Business Account.", False),
    131057: ("The WhatsApp Business Account is in maintenance; retrying later.", True),
    131062: ("This message type cannot be sent to a contact without a phone number.", False),
    131063: ("Marketing templates are disabled for this account.", False),
    131064: ("The messaging limit was reached because of template violations.", False),
    132000: ("The template's variable count does not match.", False),
    132001: ("The template does not exist or is not approved in this language.", False),
    132005: ("The template text is too long once filled in.", False),
    132007: ("The template breaks WhatsApp's content policy.", False),
    132008: ("A template variable has a value WhatsApp refused.", False),
    132012: ("A template variable has the wrong format.", False),
    132015: ("The template is paused because of low quality.", False),
    132016: ("The template is disabled because of low quality.", False),
    368: ("The WhatsApp Business Account is temporarily blocked for policy violations.", False),
    130497: ("The business may not message contacts in this country.", False),
    130472: ("WhatsApp did not send this message (the contact is in a Meta experiment).", False),
    137000: ("The contact's identity could not be verified.", False),
}
_PERMISSION_CODES = range(200, 300)


def describe(code: int | None, *, provider_transient: bool = False) -> ErrorInfo:
    """Our reason for a provider error code, and whether retrying can help."""
    if code is None:
        return ErrorInfo(code=None, reason=GENERIC_REASON, transient=provider_transient)
    known = _KNOWN.get(code)
    if known is not None:
        reason, transient = known
        return ErrorInfo(code=code, reason=reason, transient=transient or provider_transient)
    if code in _PERMISSION_CODES:
        return ErrorInfo(code=code, reason=_KNOWN[10][0], transient=False)
    return ErrorInfo(code=code, reason=GENERIC_REASON, transient=provider_transient)


def reason_for(code: int | None) -> str:
    return describe(code).reason


def is_transient(code: int | None, *, provider_transient: bool = False) -> bool:
    return describe(code, provider_transient=provider_transient).transient
