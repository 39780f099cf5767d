"""The WhatsApp webhook endpoint: /webhooks/whatsapp/<channel id>/.

GET answers Meta's verification handshake. POST checks the size, the per-channel rate limit
and the ``X-Hub-Signature-256`` HMAC over the raw body, stores the body in the inbox
(``WebhookDelivery``) and answers 200 at once; a task processes it after the commit, and a
sweeper re-queues whatever no worker finished. A signed body we cannot read is stored as
unprocessable and still acknowledged, so Meta does not retry junk for a week.

No session, login or workspace URL is involved: the channel id in the path routes the
request, and the channel's app secret is the only credential.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from heroshhi.audit.actions import AuditAction, Outcome
from heroshhi.audit.services import audit_record
from heroshhi.core import ratelimit
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.whatsapp.models import WebhookDelivery, WhatsAppChannel
from heroshhi.whatsapp.parsing import PayloadError, load_body
from heroshhi.whatsapp.routing import channel_forget, webhook_channel, webhook_channel_reread
from heroshhi.whatsapp.tasks import inbox_wake_soon

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="
# One audit event per channel per window for bad signatures; the rest are only counted in
# the log, so a flood of forged requests cannot fill the audit log.
SIGNATURE_AUDIT_WINDOW_SECONDS = 60
CHALLENGE_MAX = 128


def _text(body: str, status: int) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp_webhook(request: HttpRequest, channel_id: uuid.UUID) -> HttpResponse:
    channel = webhook_channel(channel_id)
    if channel is None:
        return _text("Not found.", 404)
    if request.method == "GET":
        return _verify_subscription(request, channel)
    return _receive(request, channel)


def _verify_subscription(request: HttpRequest, channel: WhatsAppChannel) -> HttpResponse:
    """Meta's handshake: echo ``hub.challenge`` when the verify token is the channel's."""
    mode = request.GET.get("hub.mode", "")
    token = request.GET.get("hub.verify_token", "")
    challenge = request.GET.get("hub.challenge", "")
    token_ok = hmac.compare_digest(token.encode(), (channel.verify_token or "").encode())
    challenge_ok = 0 < len(challenge) <= CHALLENGE_MAX and challenge.isprintable()
    if mode == "subscribe" and token_ok and challenge_ok:
        return _text(challenge, 200)
    return _text("Verification failed.", 403)


def _declared_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


def _receive(request: HttpRequest, channel: WhatsAppChannel) -> HttpResponse:
    limit = settings.WHATSAPP_WEBHOOK_MAX_BYTES
    declared = _declared_length(request)
    if declared is None:
        return _text("Bad Content-Length.", 400)
    if declared > limit:
        return _text("Payload too large.", 413)
    decision = ratelimit.hit(ratelimit.webhook_limit(), str(channel.pk))
    if not decision.allowed:
        response = _text("Too many requests.", 429)
        response["Retry-After"] = str(decision.retry_after)
        return response
    # Read the stream ourselves: request.body would refuse bodies above Django's
    # DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), below Meta's 3 MB. One byte more than the limit
    # tells a lying Content-Length from an honest one.
    body = request.read(limit + 1)
    if len(body) > limit:
        return _text("Payload too large.", 413)
    problem = _signature_problem(request, channel, body)
    if problem is not None and problem[1] == "mismatch":
        renewed = webhook_channel_reread(channel)
        if renewed is None:
            return _text("Not found.", 404)
        if renewed is not channel:
            channel, problem = renewed, _signature_problem(request, renewed, body)
    if problem is not None:
        status, reason = problem
        _signature_refused(channel, reason)
        return _text("Invalid signature.", status)
    try:
        # In autocommit: a refused INSERT is simply refused, nothing to roll back.
        delivery = _store(channel, body)
    except IntegrityError:
        # The remembered channel has since been deleted outright (its workspace erased).
        channel_forget(channel.pk)
        return _text("Not found.", 404)
    if delivery.status == WebhookDelivery.Status.RECEIVED:
        transaction.on_commit(lambda: _enqueue(delivery))
    return _text("OK", 200)


def _signature_problem(
    request: HttpRequest, channel: WhatsAppChannel, body: bytes
) -> tuple[int, str] | None:
    """(status, reason) when the signature is missing (401) or wrong (403)."""
    header = request.headers.get(SIGNATURE_HEADER, "").strip()
    if not header:
        return 401, "missing"
    expected = (
        SIGNATURE_PREFIX
        + hmac.new((channel.app_secret or "").encode(), body, hashlib.sha256).hexdigest()
    )
    if not header.isascii() or not hmac.compare_digest(header.lower(), expected):
        return 403, "mismatch"
    return None


def _signature_refused(channel: WhatsAppChannel, reason: str) -> None:
    first_in_window = cache.add(
        f"wa-webhook-sig-audit:{channel.pk}", 1, timeout=SIGNATURE_AUDIT_WINDOW_SECONDS
    )
    if first_in_window:
        audit_record(
            workspace=channel.workspace,
            actor=Actor.anonymous(),
            action=AuditAction.WEBHOOK_SIGNATURE_INVALID,
            outcome=Outcome.DENIED,
            target=("whatsapp_channel", channel.pk),
            metadata={"channel": str(channel.pk), "reason": reason},
        )
        return
    counter = f"wa-webhook-sig-suppressed:{channel.pk}"
    cache.add(counter, 0, timeout=SIGNATURE_AUDIT_WINDOW_SECONDS * 10)
    try:
        suppressed = cache.incr(counter)
    except ValueError:  # expired between add and incr
        suppressed = 1
    logger.warning(
        "webhook signature invalid (audit already written this minute)",
        extra={"channel_id": str(channel.pk), "reason": reason, "suppressed_total": suppressed},
    )


def _store(channel: WhatsAppChannel, body: bytes) -> WebhookDelivery:
    """The signed body in the inbox: RECEIVED when it reads as a WhatsApp webhook,
    UNPROCESSABLE (with a reason code) when it does not."""
    status, error, processed_at = WebhookDelivery.Status.RECEIVED, "", None
    try:
        load_body(body)
    except PayloadError as exc:
        status, error, processed_at = (
            WebhookDelivery.Status.UNPROCESSABLE,
            exc.reason,
            timezone.now(),
        )
    # Undecodable bytes cannot be a JSON webhook; keep them readable for ops all the same.
    text = body.decode("utf-8", errors="replace")
    with workspace_scope(channel.workspace_id):
        return WebhookDelivery.objects.create(
            workspace_id=channel.workspace_id,
            channel=channel,
            body=text,
            body_sha256=hashlib.sha256(body).hexdigest(),
            status=status,
            error=error,
            processed_at=processed_at,
        )


def _enqueue(delivery: WebhookDelivery) -> None:
    """Hand the delivery to a worker. If the broker is unreachable the delivery is safe in
    the inbox and the sweeper queues it later, so Meta still gets its 200."""
    try:
        inbox_wake_soon(delivery.workspace_id)
    except Exception:
        logger.exception(
            "could not queue a webhook delivery; the sweeper will",
            extra={"delivery_id": str(delivery.pk)},
        )
