"""/api/v1/channels/whatsapp: connect, list, check (template sync), remove; secrets stay in."""

from __future__ import annotations

import secrets

import pytest

from heroshhi.audit.models import AuditEvent
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.tests.conftest import issue_key
from heroshhi.messaging.models import Channel, MessageTemplate
from heroshhi.whatsapp.models import WhatsAppChannel
from heroshhi.whatsapp.services import webhook_url
from heroshhi.workspaces.permissions import Role

pytestmark = pytest.mark.django_db
URL = "/api/v1/channels/whatsapp"
TOKEN = "EAAGsecret-token-value-123"
APP_SECRET = "app-secret-value-abc"
VERIFY = "verify-me-please"


def _body(**overrides):
    return {
        "phone_number_id": "106540352242922",
        "waba_id": "102290129340398",
        "display_phone_number": "+91 80000 12345",
        "access_token": TOKEN,
        "app_secret": APP_SECRET,
        "verify_token": VERIFY,
        "label": "Sales line",
        **overrides,
    }


def _post(client, key, url, body=None):
    return client.post(url, body or {}, content_type="application/json", **key)


@pytest.fixture
def alice_key(world):
    return issue_key(world.a)


def test_a_channel_is_created_with_its_webhook_url_and_no_secrets(client, world, alice_key):
    response = _post(client, alice_key, URL, _body())
    assert response.status_code == 201, response.content
    body = response.json()
    raw = response.content.decode()
    for secret in (TOKEN, APP_SECRET, VERIFY):
        assert secret not in raw
    assert not {"access_token", "app_secret", "verify_token"} & set(body)
    assert body["webhook_url"] == f"http://testserver/webhooks/whatsapp/{body['id']}/"
    assert body["throughput_tier"] == 80
    assert body["last_check_ok"] is None
    with workspace_scope(world.a):
        channel = WhatsAppChannel.objects.get(pk=body["id"])
    assert channel.access_token == TOKEN  # stored (encrypted), usable by the transport
    event = AuditEvent.objects.get(action="channel_created", target_id=body["id"])
    assert "106540352242922" not in str(event.metadata)
    assert TOKEN not in str(event.metadata)
    listed = client.get(URL, **alice_key).json()
    assert [c["id"] for c in listed] == [body["id"]]
    assert TOKEN not in client.get(URL, **alice_key).content.decode()


def test_the_secrets_are_encrypted_in_the_database(client, world, alice_key):
    from django.db import connection

    channel_id = _post(client, alice_key, URL, _body()).json()["id"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM whatsapp_whatsappchannel")
        rows = cursor.fetchall()
    assert len(rows) == 1
    for secret in (TOKEN, APP_SECRET, VERIFY):
        assert secret not in str(rows)
    assert channel_id


def test_a_number_live_anywhere_is_refused_with_a_field_error(client, world, alice_key):
    assert _post(client, alice_key, URL, _body()).status_code == 201
    again = _post(client, alice_key, URL, _body(label="Again"))
    assert again.status_code == 422
    assert "phone_number_id" in again.json()["error"]["fields"]
    # Another workspace cannot take it either: webhooks are routed by the number.
    elsewhere = _post(client, issue_key(world.b), URL, _body())
    assert elsewhere.status_code == 422
    assert "phone_number_id" in elsewhere.json()["error"]["fields"]
    assert TOKEN not in elsewhere.content.decode()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"phone_number_id": "abc123"}, "phone_number_id"),
        ({"waba_id": "12 34"}, "waba_id"),
        ({"display_phone_number": "call me"}, "display_phone_number"),
        ({"access_token": "   "}, "access_token"),
        ({"app_secret": ""}, "app_secret"),
        ({"verify_token": "has spaces in it"}, "verify_token"),
        ({"throughput_tier": 500}, "throughput_tier"),
    ],
)
def test_bad_input_gets_field_errors_and_creates_nothing(
    client, world, alice_key, overrides, field
):
    response = _post(client, alice_key, URL, _body(**overrides))
    assert response.status_code == 422
    assert field in response.json()["error"]["fields"]
    with workspace_scope(world.a):
        assert not WhatsAppChannel.objects.exists()


@pytest.mark.parametrize("body", [[], "x", {"phone_number_id": {"$gt": ""}}, _body(extra=1)])
def test_hostile_bodies_get_a_typed_4xx(client, alice_key, body):
    response = _post(client, alice_key, URL, body)
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["code"]


def test_sales_keys_are_refused_with_a_typed_403(client, world, wa_channel):
    sales = issue_key(world.a, Role.SALES)
    for response in (
        client.get(URL, **sales),
        _post(client, sales, URL, _body()),
        _post(client, sales, f"{URL}/{wa_channel.pk}/check"),
        client.get(f"{URL}/{wa_channel.pk}/templates", **sales),
        client.delete(f"{URL}/{wa_channel.pk}", **sales),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    manager = issue_key(world.a, Role.MANAGER)
    assert client.get(URL, **manager).status_code == 200


def test_check_syncs_the_templates_from_whatsapp(
    client,
    world,
    alice_key,
    wa_simulator,
    make_wa_channel,
):
    channel = make_wa_channel(sync_templates=False)
    response = _post(client, alice_key, f"{URL}/{channel.pk}/check")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True
    assert body["templates"] == len(wa_simulator.templates(channel.waba_id))
    assert body["channel"]["last_check_ok"] is True
    assert body["channel"]["last_checked_at"]
    templates = {
        t["name"]: t for t in client.get(f"{URL}/{channel.pk}/templates", **alice_key).json()
    }
    reminder = templates["appointment_reminder"]
    assert reminder["parameter_count"] == 2
    assert reminder["status"] == "APPROVED"
    assert reminder["category"] == "UTILITY"
    assert reminder["body"].startswith("Hi {{1}}, this is a reminder")
    assert templates["old_promo"]["status"] == "PAUSED"
    assert templates["order_update_hi"]["language"] == "hi"
    assert AuditEvent.objects.filter(action="templates_synced", target_id=str(channel.pk)).exists()


def test_a_template_removed_at_whatsapp_is_marked_deleted_on_the_next_check(
    client,
    world,
    alice_key,
    wa_simulator,
    wa_channel,
):
    keep = [t for t in wa_simulator.templates(wa_channel.waba_id) if t["name"] != "welcome_offer"]
    wa_simulator.set_templates(wa_channel.waba_id, keep)
    assert _post(client, alice_key, f"{URL}/{wa_channel.pk}/check").json()["ok"] is True
    with workspace_scope(world.a):
        gone = MessageTemplate.objects.get(channel=wa_channel.channel, name="welcome_offer")
        kept = MessageTemplate.objects.get(channel=wa_channel.channel, name="lead_followup")
    assert gone.status == "DELETED"
    assert kept.status == "APPROVED"


def test_templates_are_read_across_pages(world, alice_key, client, wa_simulator, wa_channel):
    many = [
        {
            "name": f"promo_{n:03d}",
            "language": "en",
            "category": "MARKETING",
            "status": "APPROVED",
            "components": [{"type": "BODY", "text": "Hi {{1}}, offer {{2}} ends {{3}}"}],
        }
        for n in range(130)
    ]
    wa_simulator.set_templates(wa_channel.waba_id, many)
    body = _post(client, alice_key, f"{URL}/{wa_channel.pk}/check").json()
    assert body["templates"] == 130
    with workspace_scope(world.a):
        counts = set(
            MessageTemplate.objects.filter(
                channel=wa_channel.channel, status="APPROVED"
            ).values_list("parameter_count", flat=True)
        )
    assert counts == {3}


def test_a_failed_check_says_why_without_secrets(
    client,
    world,
    alice_key,
    make_wa_channel,
):
    channel = make_wa_channel(token="EAAG-wrong-token", sync_templates=False)
    body = _post(client, alice_key, f"{URL}/{channel.pk}/check").json()
    assert body["ok"] is False
    assert body["error"].startswith("190")
    assert "access token" in body["error"]
    assert body["channel"]["last_check_ok"] is False
    assert "EAAG-wrong-token" not in str(body)
    event = AuditEvent.objects.get(action="templates_synced", target_id=str(channel.pk))
    assert event.outcome == "failure"


def test_removing_a_channel_hides_it_and_frees_its_number(client, world, alice_key):
    channel_id = _post(client, alice_key, URL, _body()).json()["id"]
    assert client.delete(f"{URL}/{channel_id}", **alice_key).status_code == 204
    assert client.get(URL, **alice_key).json() == []
    assert client.delete(f"{URL}/{channel_id}", **alice_key).status_code == 404
    assert _post(client, alice_key, f"{URL}/{channel_id}/check").status_code == 404
    with workspace_scope(world.a):
        assert Channel.objects.get(pk=channel_id).deleted_at is not None
        assert WhatsAppChannel.objects.get(pk=channel_id).live is False
    assert _post(client, alice_key, URL, _body()).status_code == 201
    assert AuditEvent.objects.filter(action="channel_deleted", target_id=channel_id).exists()


def test_charlie_gets_404_for_alices_channel(client, world, wa_channel):
    charlie = issue_key(world.b)
    assert client.get(URL, **charlie).json() == []
    assert _post(client, charlie, f"{URL}/{wa_channel.pk}/check").status_code == 404
    assert client.get(f"{URL}/{wa_channel.pk}/templates", **charlie).status_code == 404
    assert client.delete(f"{URL}/{wa_channel.pk}", **charlie).status_code == 404
    with workspace_scope(world.a):
        assert Channel.objects.get(pk=wa_channel.pk).deleted_at is None


def test_webhook_url_takes_a_base_or_a_request(rf, settings, wa_channel):
    settings.ALLOWED_HOSTS = ["crm.example.com"]
    path = f"/webhooks/whatsapp/{wa_channel.pk}/"
    assert webhook_url("https://crm.example.com/", wa_channel) == f"https://crm.example.com{path}"
    request = rf.get("/", HTTP_HOST="crm.example.com", secure=True)
    assert webhook_url(request, wa_channel) == f"https://crm.example.com{path}"


def test_unknown_ids_look_like_missing(client, alice_key):
    for path in (f"{URL}/not-a-uuid/templates", f"{URL}/{secrets.token_hex(16)}/templates"):
        response = client.get(path, **alice_key)
        assert response.status_code == 404
