"""The webhook endpoint: handshake, signature, size, rate limit, the inbox and processing.

Endpoint rules are checked with Django's test client and bodies built in
``webhook_support``; the full loop (the simulator POSTing real signed webhooks to a live
server) is in the second half of this file.
"""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import AuditEvent
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.messaging.models import Channel, Message
from heroshhi.whatsapp.inbox import MAX_ATTEMPTS, delivery_process
from heroshhi.whatsapp.models import WebhookDelivery, WhatsAppChannel
from heroshhi.whatsapp.services import channel_delete
from heroshhi.whatsapp.tasks import webhook_deliveries_sweep
from heroshhi.whatsapp.tests.webhook_support import (
    VERIFY_TOKEN,
    change,
    contact,
    encode,
    envelope,
    make_channel,
    post,
    sign,
    status,
    text_message,
    webhook_path,
)
from heroshhi.workspaces.permissions import Role


@pytest.fixture
def channel(world):
    return make_channel(world.a)


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Rate-limit counters and the signature-audit throttle live in the cache.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def send(client, django_capture_on_commit_callbacks):
    """POST a signed body and run what the view queued on commit (the processing task,
    eager in tests), as a real request's commit would."""

    def send(channel, data, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return post(client, channel, data, **kwargs)

    return send


def _deliveries(world):
    with workspace_scope(world.a):
        return list(WebhookDelivery.objects.order_by("received_at"))


def _audit_events(world, action):
    with workspace_scope(world.a):
        return list(AuditEvent.objects.filter(action=action))


# The handshake ---------------------------------------------------------------------------


def test_the_handshake_echoes_the_challenge_for_the_right_token(client, channel):
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }

    response = client.get(webhook_path(channel), query)

    assert response.status_code == 200
    assert response.content == b"1158201444"
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": ""},
    ],
)
def test_the_handshake_refuses_anything_else(client, channel, query):
    response = client.get(webhook_path(channel), query)

    assert response.status_code == 403
    assert b"1" not in response.content


def test_an_unknown_or_removed_channel_is_not_found(
    send, client, world, channel, django_capture_on_commit_callbacks
):
    unknown = webhook_path(channel).replace(str(channel.pk), str(uuid.uuid4()))
    assert client.post(unknown, b"{}", content_type="application/json").status_code == 404
    assert send(channel, envelope([])).status_code == 200  # now remembered by this process

    with django_capture_on_commit_callbacks(execute=True):
        channel_delete(
            workspace=world.a, actor=Actor.user(world.alice.pk, role=Role.OWNER), channel=channel
        )

    assert send(channel, envelope([])).status_code == 404
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"}
    assert client.get(webhook_path(channel), query).status_code == 404
    assert len(_deliveries(world)) == 1


# Signatures -------------------------------------------------------------------------------


def test_a_missing_signature_is_401_audited_and_stores_nothing(client, world, channel):
    body = encode(
        envelope([change(channel, contacts=[contact()], messages=[text_message("wamid.1", "Hi")])])
    )

    response = client.post(webhook_path(channel), body, content_type="application/json")

    assert response.status_code == 401
    assert _deliveries(world) == []
    [event] = _audit_events(world, AuditAction.WEBHOOK_SIGNATURE_INVALID)
    assert event.metadata == {"channel": str(channel.pk), "reason": "missing"}
    assert event.outcome == "denied"


def test_a_wrong_signature_is_403_audited_once_a_minute_and_stores_nothing(
    send, client, world, channel
):
    body = encode(
        envelope([change(channel, contacts=[contact()], messages=[text_message("wamid.1", "Hi")])])
    )

    statuses_seen = {
        send(channel, body, secret="someone-else's-secret").status_code for _ in range(5)
    }
    # A signature over other bytes is just as wrong.
    forged = client.post(
        webhook_path(channel),
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=sign(body + b" "),
    )

    assert statuses_seen == {403}
    assert forged.status_code == 403
    assert _deliveries(world) == []
    events = _audit_events(world, AuditAction.WEBHOOK_SIGNATURE_INVALID)
    assert [e.metadata["reason"] for e in events] == ["mismatch"]
    with workspace_scope(world.a):
        assert not Message.objects.exists()


# Size and rate -------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_413_without_being_stored(client, world, channel, settings):
    too_big = (
        b'{"object":"whatsapp_business_account","entry":[],"pad":"'
        + b"x" * (3 * 1024 * 1024)
        + b'"}'
    )

    response = client.post(
        webhook_path(channel),
        too_big,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=sign(too_big),
    )

    assert response.status_code == 413
    assert _deliveries(world) == []


def test_a_body_just_under_the_limit_and_above_djangos_own_cap_is_accepted(
    send, client, world, channel
):
    data = envelope(
        [change(channel, contacts=[contact()], messages=[text_message("wamid.big", "Hi")])]
    )
    data["pad"] = "x" * (2_900_000)  # over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), under 3 MB

    response = send(channel, data)

    assert response.status_code == 200
    [delivery] = _deliveries(world)
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    assert delivery.summary == {"messages": 1}


@override_settings(WEBHOOK_RATE_LIMIT_PER_MINUTE=3)
def test_the_webhook_bucket_answers_429_with_retry_after(send, world, channel):
    answers = [send(channel, envelope([])).status_code for _ in range(5)]

    assert answers[:3] == [200, 200, 200]
    assert answers[3:] == [429, 429]
    refused = send(channel, envelope([]))
    assert int(refused["Retry-After"]) >= 1
    assert len(_deliveries(world)) == 3


# The inbox -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{this is not json", "invalid_json"),
        (b'{"object": "page", "entry": []}', "wrong_object"),
        (b'"just a string"', "not_an_object"),
        (b'{"entry": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "too_deep"),
    ],
)
def test_a_signed_body_we_cannot_read_is_kept_as_unprocessable_and_acknowledged(
    send, world, channel, raw, reason
):
    response = send(channel, raw)

    assert response.status_code == 200
    [delivery] = _deliveries(world)
    assert delivery.status == WebhookDelivery.Status.UNPROCESSABLE
    assert delivery.error == reason
    assert delivery.processed_at is not None


@pytest.mark.django_db(transaction=True)  # keys are cached only once their creation commits
def test_the_ack_writes_the_inbox_row_and_nothing_else(client, world, channel):
    from django.test.utils import CaptureQueriesContext

    def body(wamid):
        return encode(
            envelope([change(channel, contacts=[contact()], messages=[text_message(wamid, "Hi")])])
        )

    # Warm up: the first message creates the workspace's index key, which resets this
    # process's key cache; from the second on, every key (and the channel) is remembered.
    post(client, channel, body("wamid.ack.0"))
    post(client, channel, body("wamid.ack.1"))
    with CaptureQueriesContext(connection) as queries:
        response = post(client, channel, body("wamid.ack.2"))

    assert response.status_code == 200
    statements = [query["sql"] for query in queries.captured_queries]
    # What follows the inbox INSERT is the processing task, run eagerly on commit in tests.
    stored = next(n for n, sql in enumerate(statements) if "INSERT INTO" in sql)
    ack = statements[: stored + 1]
    # No channel, session, user, membership or key reads: only the inbox row.
    assert len(ack) == 1, [sql[:120] for sql in ack]
    assert 'INSERT INTO "whatsapp_webhookdelivery"' in ack[0]


def test_a_remembered_channel_is_forgotten_once_removed_and_expires_elsewhere(
    send, world, channel, monkeypatch
):
    from heroshhi.whatsapp import routing

    hello = envelope([change(channel, contacts=[contact()], messages=[text_message("w.1", "Hi")])])
    assert send(channel, hello).status_code == 200
    assert routing.webhook_channel(channel.pk) is not None
    # Another process removed it: this one keeps taking its traffic only until it expires.
    with workspace_scope(world.a):
        Channel.objects.filter(pk=channel.pk).update(deleted_at=timezone.now())
    assert routing.webhook_channel(channel.pk) is not None
    later = routing.time.monotonic() + routing.REMEMBER_SECONDS + 1
    monkeypatch.setattr(routing.time, "monotonic", lambda: later)
    assert routing.webhook_channel(channel.pk) is None


@pytest.mark.django_db(transaction=True)
def test_a_remembered_channel_deleted_outright_is_not_found_not_an_error(send, world, channel):
    hello = envelope([change(channel, contacts=[contact()], messages=[text_message("w.1", "Hi")])])
    assert send(channel, hello).status_code == 200
    with workspace_scope(world.a):
        Channel.objects.filter(pk=channel.pk).delete()

    assert send(channel, hello).status_code == 404
    assert send(channel, hello).status_code == 404  # and no longer remembered


def test_the_stored_body_is_encrypted_with_its_digest_beside_it(send, client, world, channel):
    import hashlib

    data = envelope(
        [
            change(
                channel,
                contacts=[contact(name="Asha Verma")],
                messages=[text_message("wamid.e", "secret words")],
            )
        ]
    )
    body = encode(data)

    send(channel, body)

    [delivery] = _deliveries(world)
    assert delivery.body == body.decode()
    assert delivery.body_sha256 == hashlib.sha256(body).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM whatsapp_webhookdelivery WHERE id = %s", [delivery.pk.hex])
        stored = cursor.fetchone()
        if stored is None:
            cursor.execute(
                "SELECT body FROM whatsapp_webhookdelivery WHERE id = %s", [str(delivery.pk)]
            )
            stored = cursor.fetchone()
    assert b"secret words" not in str(stored[0]).encode()
    assert "Asha" not in str(stored[0])


def test_a_batch_of_entries_changes_messages_and_statuses_is_processed_item_by_item(
    send, world, channel
):
    batch = envelope(
        [
            change(
                channel,
                contacts=[contact("919876500001", name="Asha")],
                messages=[text_message("wamid.m1", "one"), text_message("wamid.m2", "two")],
                statuses=[status("wamid.unknown", "delivered")],
            ),
            change(
                channel,
                contacts=[contact("919876500002", name="Ravi")],
                messages=[text_message("wamid.m3", "three", wa_id="919876500002")],
            ),
        ],
        [
            change(
                channel,
                contacts=[contact("919876500003", name="Meera")],
                messages=[text_message("wamid.m4", "four", wa_id="919876500003")],
            )
        ],
    )

    assert send(channel, batch).status_code == 200

    [delivery] = _deliveries(world)
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    assert delivery.summary == {"messages": 4, "unknown_status": 1}
    with workspace_scope(world.a):
        assert set(Message.objects.values_list("provider_message_id", flat=True)) == {
            "wamid.m1",
            "wamid.m2",
            "wamid.m3",
            "wamid.m4",
        }
        assert Lead.objects.count() == 3


def test_missing_fields_fail_their_item_only(send, client, world, channel):
    batch = envelope(
        [
            change(
                channel,
                contacts=[contact()],
                messages=[
                    {
                        "from": "919876500001",
                        "timestamp": "1",
                        "type": "text",
                        "text": {"body": "no id"},
                    },
                    text_message("wamid.fine", "fine"),
                ],
            )
        ]
    )

    assert send(channel, batch).status_code == 200

    [delivery] = _deliveries(world)
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    assert delivery.summary == {"messages": 1, "item_errors": 1}
    assert delivery.error == "entry[0].changes[0].messages[0]:missing_id"
    with workspace_scope(world.a):
        assert list(Message.objects.values_list("provider_message_id", flat=True)) == ["wamid.fine"]


def test_the_same_delivery_three_times_stores_one_message(send, client, world, channel):
    data = envelope(
        [change(channel, contacts=[contact()], messages=[text_message("wamid.dup", "Hi")])]
    )

    answers = [send(channel, data).status_code for _ in range(3)]

    assert answers == [200, 200, 200]
    assert [d.summary for d in _deliveries(world)] == [
        {"messages": 1},
        {"duplicates": 1},
        {"duplicates": 1},
    ]
    with workspace_scope(world.a):
        assert Message.objects.filter(provider_message_id="wamid.dup").count() == 1
        conversation = Message.objects.get().conversation
        assert conversation.unread_count == 1


def test_a_change_for_another_number_is_not_processed(send, client, world, channel):
    other = change(channel, contacts=[contact()], messages=[text_message("wamid.x", "Hi")])
    other["value"]["metadata"]["phone_number_id"] = "999999"

    send(channel, envelope([other]))

    [delivery] = _deliveries(world)
    assert delivery.summary == {"foreign_number": 1}
    with workspace_scope(world.a):
        assert not Message.objects.exists()


# Retries and the sweeper ----------------------------------------------------------------------


def _received(world, channel, data, *, minutes_ago=5):
    """A delivery stored but never processed (its queue message was lost)."""
    from datetime import timedelta

    from django.utils import timezone

    body = encode(data)
    with workspace_scope(world.a):
        return WebhookDelivery.objects.create(
            workspace=world.a,
            channel=channel,
            body=body.decode(),
            body_sha256="x",
            queued_at=timezone.now() - timedelta(minutes=minutes_ago),
        )


def test_the_sweeper_requeues_deliveries_left_received(world, channel):
    lost = _received(
        world,
        channel,
        envelope([change(channel, contacts=[contact()], messages=[text_message("wamid.s", "Hi")])]),
    )
    fresh = _received(world, channel, envelope([]), minutes_ago=0)

    assert webhook_deliveries_sweep() == 1

    with workspace_scope(world.a):
        lost.refresh_from_db()
        fresh.refresh_from_db()
        assert Message.objects.filter(provider_message_id="wamid.s").count() == 1
    assert lost.status == WebhookDelivery.Status.PROCESSED
    assert lost.attempts == 1
    assert fresh.status == WebhookDelivery.Status.RECEIVED


def test_processing_twice_is_harmless_and_a_finished_delivery_is_left_alone(world, channel):
    delivery = _received(
        world,
        channel,
        envelope([change(channel, contacts=[contact()], messages=[text_message("wamid.t", "Hi")])]),
    )

    first = delivery_process(delivery_id=str(delivery.pk))
    assert first is not None
    assert first.status == WebhookDelivery.Status.PROCESSED
    assert delivery_process(delivery_id=str(delivery.pk)) is None
    assert delivery_process(delivery_id=str(uuid.uuid4())) is None


def test_a_delivery_that_keeps_failing_is_given_up_after_the_last_attempt(world, channel):
    delivery = _received(
        world,
        channel,
        envelope([change(channel, contacts=[contact()], messages=[text_message("wamid.p", "Hi")])]),
    )
    # As if a worker had died on it MAX_ATTEMPTS times.
    WebhookDelivery.objects.unscoped().filter(pk=delivery.pk).update(attempts=MAX_ATTEMPTS)

    result = delivery_process(delivery_id=str(delivery.pk))

    assert result is not None
    assert result.status == WebhookDelivery.Status.UNPROCESSABLE
    assert result.error == "gave_up:attempts_exhausted"
    with workspace_scope(world.a):
        assert not Message.objects.exists()


def test_a_delivery_that_crashes_its_worker_every_time_stops_being_retried(world, channel):
    """The workspace's keys are destroyed (crypto-shredding): its stored bodies can never be
    read again, so every attempt crashes. After MAX_ATTEMPTS the delivery is given up."""
    from heroshhi.core.crypto import DecryptionError
    from heroshhi.workspaces.keys import workspace_keys_destroy

    delivery = _received(world, channel, envelope([]))
    workspace_keys_destroy(workspace=world.a, actor=Actor.system())

    for _ in range(MAX_ATTEMPTS):
        with pytest.raises(DecryptionError):
            delivery_process(delivery_id=str(delivery.pk))
    final = delivery_process(delivery_id=str(delivery.pk))

    assert final is not None
    assert final.status == WebhookDelivery.Status.UNPROCESSABLE
    assert final.error == "gave_up:crashed:DecryptionError"
    assert final.attempts == MAX_ATTEMPTS + 1
    assert webhook_deliveries_sweep() == 0


def test_finished_deliveries_are_pruned_after_their_keeping_time(world, channel):
    from datetime import timedelta

    from django.utils import timezone

    from heroshhi.whatsapp.inbox import KEEP_PROCESSED, KEEP_UNPROCESSABLE
    from heroshhi.whatsapp.tasks import webhook_deliveries_prune

    now = timezone.now()
    old_done = _received(world, channel, envelope([]))
    new_done = _received(world, channel, envelope([]))
    old_junk = _received(world, channel, envelope([]))
    stuck = _received(world, channel, envelope([]), minutes_ago=60 * 24 * 60)
    rows = WebhookDelivery.objects.unscoped()
    rows.filter(pk=old_done.pk).update(
        status=WebhookDelivery.Status.PROCESSED,
        processed_at=now - KEEP_PROCESSED - timedelta(minutes=1),
    )
    rows.filter(pk=new_done.pk).update(
        status=WebhookDelivery.Status.PROCESSED,
        processed_at=now - KEEP_PROCESSED + timedelta(hours=1),
    )
    rows.filter(pk=old_junk.pk).update(
        status=WebhookDelivery.Status.UNPROCESSABLE,
        processed_at=now - KEEP_UNPROCESSABLE - timedelta(minutes=1),
    )

    assert webhook_deliveries_prune() == 2

    assert set(rows.values_list("pk", flat=True)) == {new_done.pk, stuck.pk}


def _rotate_secret_elsewhere(world, channel, secret):
    """Another process changes the channel's app secret: this one's copy is not told."""
    with workspace_scope(world.a):
        stored = WhatsAppChannel.objects.get(pk=channel.pk)
        stored.app_secret = secret
        stored.save(update_fields=["app_secret"])


def test_a_secret_changed_elsewhere_counts_for_a_remembered_channel(
    client, world, channel, monkeypatch
):
    from heroshhi.whatsapp import routing

    hello = envelope([change(channel, contacts=[contact()], messages=[text_message("w.1", "Hi")])])
    assert post(client, channel, hello).status_code == 200  # the old secret is remembered
    _rotate_secret_elsewhere(world, channel, "rotated-app-secret-42")
    later = routing.time.monotonic() + routing.REREAD_AFTER_SECONDS + 0.1
    monkeypatch.setattr(routing.time, "monotonic", lambda: later)

    assert post(client, channel, hello, secret="rotated-app-secret-42").status_code == 200
    assert post(client, channel, hello).status_code == 403


def test_forged_signatures_reread_the_channel_at_most_once_a_second(
    client, world, channel, monkeypatch
):
    from django.test.utils import CaptureQueriesContext

    from heroshhi.whatsapp import routing

    hello = envelope([change(channel, contacts=[contact()], messages=[text_message("w.1", "Hi")])])
    assert post(client, channel, hello).status_code == 200
    later = routing.time.monotonic() + routing.REREAD_AFTER_SECONDS + 0.1
    monkeypatch.setattr(routing.time, "monotonic", lambda: later)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert post(client, channel, hello, secret="forged").status_code == 403

    reads = [
        q["sql"] for q in queries.captured_queries if 'FROM "whatsapp_whatsappchannel"' in q["sql"]
    ]
    assert len(reads) == 1
