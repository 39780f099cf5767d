"""Which channel a webhook URL names.

Every acknowledgement needs the channel (its app secret checks the signature), and the
lookup was one of the two statements an ack runs, so each process remembers a channel for a
few seconds. The memory lives here, beside the webhook, because what it holds (the secrets)
is WhatsApp's; the services that change a WhatsApp channel forget it here once they commit,
at once in their own process, and other processes stop using the old copy within
``REMEMBER_SECONDS`` (a changed secret within ``REREAD_AFTER_SECONDS``: a failed signature
reads the channel again).
"""

from __future__ import annotations

import time
import uuid

from heroshhi.whatsapp.models import WhatsAppChannel

REMEMBER_SECONDS = 10.0
# A signature that fails against a remembered secret reads the channel again, if the copy
# is older than this, so a secret changed by another process counts at once, while a
# flood of forged requests costs at most one read a second per channel and process.
REREAD_AFTER_SECONDS = 1.0

# channel id → (valid until, on the monotonic clock; the channel). Unknown ids are never
# remembered, so requests for made-up ids cannot grow it.
_remembered: dict[uuid.UUID, tuple[float, WhatsAppChannel]] = {}


def webhook_channel(channel_id: uuid.UUID) -> WhatsAppChannel | None:
    """The live channel a webhook URL names, with its ``messaging.Channel`` and workspace.
    The one unscoped lookup of webhook routing: the request carries no workspace, the
    channel id decides it."""
    now = time.monotonic()
    remembered = _remembered.get(channel_id)
    if remembered is not None and remembered[0] > now:
        return remembered[1]
    return _read(channel_id, now)


def webhook_channel_reread(channel: WhatsAppChannel) -> WhatsAppChannel | None:
    """After a signature failed against ``channel``'s secret: the channel read again (None
    once it is gone) when the remembered copy is older than ``REREAD_AFTER_SECONDS``,
    otherwise ``channel`` itself."""
    now = time.monotonic()
    remembered = _remembered.get(channel.pk)
    if remembered is not None and remembered[0] - REMEMBER_SECONDS + REREAD_AFTER_SECONDS > now:
        return channel
    return _read(channel.pk, now)


def _read(channel_id: uuid.UUID, now: float) -> WhatsAppChannel | None:
    channel = (
        WhatsAppChannel.objects.unscoped()
        .filter(pk=channel_id, channel__deleted_at__isnull=True)
        .select_related("channel", "workspace")
        .first()
    )
    if channel is None:
        _remembered.pop(channel_id, None)
        return None
    _ = channel.app_secret  # decrypted once, here, not on every request
    _remembered[channel_id] = (now + REMEMBER_SECONDS, channel)
    return channel


def channel_forget(channel_id: uuid.UUID) -> None:
    _remembered.pop(channel_id, None)
