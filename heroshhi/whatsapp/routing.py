"""Which channel a webhook URL names.

Every acknowledgement needs the channel (its app secret checks the signature), and the
lookup was one of the two statements an ack runs, so each process remembers a channel for a
few seconds. Removing a channel forgets it at once in the process that removed it; other
processes stop taking its traffic within ``REMEMBER_SECONDS``.
"""

from __future__ import annotations

import time
import uuid

from heroshhi.whatsapp.models import WhatsAppChannel

REMEMBER_SECONDS = 10.0

# channel id → (valid until, on the monotonic clock; the channel). Unknown ids are never
# remembered, so requests for made-up ids cannot grow it.
_remembered: dict[uuid.UUID, tuple[float, WhatsAppChannel]] = {}


def webhook_channel(channel_id: uuid.UUID) -> WhatsAppChannel | None:
    """The live channel a webhook URL names. The one unscoped lookup of webhook routing:
    the request carries no workspace, the channel id decides it."""
    now = time.monotonic()
    remembered = _remembered.get(channel_id)
    if remembered is not None and remembered[0] > now:
        return remembered[1]
    channel = (
        WhatsAppChannel.objects.unscoped()
        .filter(pk=channel_id, deleted_at__isnull=True)
        .select_related("workspace")
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
