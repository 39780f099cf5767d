"""/api/v1/leads/{id}/messages and /opt-out: typed answers for every rule, against the
simulator."""

from __future__ import annotations

import pytest

from heroshhi.audit.models import AuditEvent
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.tests.conftest import issue_key
from heroshhi.messaging.models import Message
from heroshhi.whatsapp.tests.conftest import open_window
from heroshhi.workspaces.permissions import Role

pytestmark = pytest.mark.django_db
TEXT = "Your quote for the 3BHK is ready, Priya"


@pytest.fixture
def alice_key(world):
    return issue_key(world.a)


def _url(lead, tail="messages"):
    return f"/api/v1/leads/{lead.pk}/{tail}"


def _post(client, key, url, body=None):
    return client.post(url, body or {}, content_type="application/json", **key)


def _messages(workspace):
    with workspace_scope(workspace):
        return list(Message.objects.all())


def _outbox(simulator, channel):
    return simulator.outbox(phone_number_id=channel.phone_number_id)


def test_a_text_inside_the_window_answers_202_and_goes_out(
    client, alice_key, wa_simulator, wa_channel, wa_lead, django_capture_on_commit_callbacks
):
    open_window(wa_simulator, wa_channel, wa_lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, alice_key, _url(wa_lead), {"type": "text", "text": TEXT})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "pending"
    assert body["direction"] == "out"
    assert body["kind"] == "text"
    assert body["body"] == TEXT
    [sent] = _outbox(wa_simulator, wa_channel)
    assert sent["biz_opaque_callback_data"] == body["id"]
    listed = client.get(_url(wa_lead), **alice_key).json()
    assert listed["items"][0]["provider_message_id"] == sent["wamid"]


def test_outside_the_window_answers_409_naming_the_approved_templates(
    client, alice_key, wa_simulator, wa_channel, wa_lead, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, alice_key, _url(wa_lead), {"type": "text", "text": TEXT})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "outside_window"
    assert "only approved templates" in error["message"]
    assert "appointment_reminder" in error["message"]
    assert set(error["templates"]) == {
        "appointment_reminder",
        "lead_followup",
        "order_update_hi",
        "welcome_offer",
    }
    assert _messages(wa_lead.workspace) == []
    assert _outbox(wa_simulator, wa_channel) == []


def test_a_template_answers_202_outside_the_window(
    client, alice_key, wa_simulator, wa_channel, wa_lead, django_capture_on_commit_callbacks
):
    body = {
        "type": "template",
        "template": "welcome_offer",
        "language": "en",
        "variables": ["Priya"],
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, alice_key, _url(wa_lead), body)
    assert response.status_code == 202, response.content
    assert response.json()["template"] == "welcome_offer"
    assert response.json()["body"].startswith("Hi Priya, welcome!")
    [sent] = _outbox(wa_simulator, wa_channel)
    assert sent["template"]["name"] == "welcome_offer"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"template": "welcome_offer", "language": "en", "variables": []}, "variables"),
        ({"template": "welcome_offer", "language": "en", "variables": ["a", "b"]}, "variables"),
        ({"template": "welcome_offer", "language": "fr", "variables": ["a"]}, "language"),
        ({"template": "old_promo", "language": "en", "variables": ["a"]}, "template"),
    ],
)
def test_a_template_that_does_not_fit_answers_422_template_invalid(
    client,
    alice_key,
    wa_simulator,
    wa_channel,
    wa_lead,
    django_capture_on_commit_callbacks,
    body,
    field,
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, alice_key, _url(wa_lead), {"type": "template", **body})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "template_invalid"
    assert field in error["fields"]
    assert _messages(wa_lead.workspace) == []
    assert _outbox(wa_simulator, wa_channel) == []


def test_a_template_without_its_name_is_a_plain_validation_error(
    client, alice_key, wa_simulator, wa_channel, wa_lead
):
    response = _post(client, alice_key, _url(wa_lead), {"type": "template", "variables": []})
    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == {"template", "language"}


def test_an_opted_out_lead_answers_409_and_whatsapp_receives_nothing(
    client, alice_key, wa_simulator, wa_channel, wa_lead, django_capture_on_commit_callbacks
):
    open_window(wa_simulator, wa_channel, wa_lead)
    stopped = _post(client, alice_key, _url(wa_lead, "opt-out"))
    assert stopped.status_code == 200
    assert stopped.json()["opted_out"] is True
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, alice_key, _url(wa_lead), {"type": "text", "text": TEXT})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "opted_out"
    assert _outbox(wa_simulator, wa_channel) == []
    refused = AuditEvent.objects.get(action="message_refused", target_id=str(wa_lead.pk))
    assert refused.reason == "opted_out"


def test_opt_out_state_shows_the_ledger_history_and_opt_in_clears_it(
    client, alice_key, wa_lead, wa_simulator, wa_channel
):
    state = client.get(_url(wa_lead, "opt-out"), **alice_key).json()
    assert state == {"lead": str(wa_lead.pk), "opted_out": False, "history": []}
    _post(client, alice_key, _url(wa_lead, "opt-out"))
    resumed = _post(client, alice_key, _url(wa_lead, "opt-in"))
    assert resumed.status_code == 200
    assert resumed.json()["opted_out"] is False
    history = client.get(_url(wa_lead, "opt-out"), **alice_key).json()["history"]
    assert [(h["status"], h["method"]) for h in history] == [
        ("opted_in", "api"),
        ("opted_out", "api"),
    ]
    assert set(history[0]) == {"status", "method", "trigger", "at"}
    assert wa_lead.phone.lstrip("+") not in str(history)


def test_a_sales_key_sees_no_lead_to_opt_out_and_a_manager_may_opt_in(client, world, wa_lead):
    # A sales key is no member, so it sees no lead at all: 404 rather than 403.
    sales_key = issue_key(world.a, Role.SALES)
    assert _post(client, sales_key, _url(wa_lead, "opt-out")).status_code == 404
    manager_key = issue_key(world.a, Role.MANAGER)
    assert _post(client, manager_key, _url(wa_lead, "opt-in")).status_code == 200


def test_without_a_channel_the_answer_is_409_no_channel(client, world):
    from heroshhi.core.actors import Actor
    from heroshhi.leads.services.leads import lead_create

    lead = lead_create(
        workspace=world.b,
        actor=Actor.user(world.charlie.pk, role=Role.OWNER),
        name="Ravi",
        phone="+919811100000",
        email=None,
        source="manual",
    ).lead
    response = _post(client, issue_key(world.b), _url(lead), {"type": "text", "text": "Hi"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_channel"


def test_a_sales_key_sees_no_lead_and_cannot_send(client, world, wa_simulator, wa_channel, wa_lead):
    open_window(wa_simulator, wa_channel, wa_lead)
    sales_key = issue_key(world.a, Role.SALES)
    response = _post(client, sales_key, _url(wa_lead), {"type": "text", "text": TEXT})
    assert response.status_code == 404
    assert client.get(_url(wa_lead), **sales_key).status_code == 404
    assert _messages(world.a) == []


def test_charlie_cannot_read_or_send_to_alices_lead(
    client, world, wa_simulator, wa_channel, wa_lead
):
    open_window(wa_simulator, wa_channel, wa_lead)
    charlie_key = issue_key(world.b)
    assert client.get(_url(wa_lead), **charlie_key).status_code == 404
    response = _post(client, charlie_key, _url(wa_lead), {"type": "text", "text": TEXT})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert client.get(_url(wa_lead, "opt-out"), **charlie_key).status_code == 404
    assert _post(client, charlie_key, _url(wa_lead, "opt-out")).status_code == 404
    assert _messages(world.a) == []
    assert _outbox(wa_simulator, wa_channel) == []


def test_the_list_is_newest_first_and_pages_with_a_cursor(
    client, alice_key, world, wa_simulator, wa_channel, wa_lead
):
    open_window(wa_simulator, wa_channel, wa_lead)
    sent = [
        _post(client, alice_key, _url(wa_lead), {"type": "text", "text": f"Note {n}"}).json()["id"]
        for n in range(3)
    ]
    first = client.get(_url(wa_lead) + "?limit=2", **alice_key).json()
    assert [m["id"] for m in first["items"]] == sent[::-1][:2]
    assert first["next_cursor"]
    rest = client.get(_url(wa_lead) + f"?limit=2&cursor={first['next_cursor']}", **alice_key)
    assert [m["id"] for m in rest.json()["items"]] == [sent[0]]
    assert rest.json()["next_cursor"] is None
    bad = client.get(_url(wa_lead) + "?cursor=not-a-cursor", **alice_key)
    assert bad.status_code == 422
    assert "cursor" in bad.json()["error"]["fields"]
    # Reading a lead's messages is a sensitive read.
    assert AuditEvent.objects.filter(action="sensitive_read", target_id=str(wa_lead.pk)).exists()


def test_message_content_never_reaches_the_audit_log(
    client, alice_key, wa_simulator, wa_channel, wa_lead, django_capture_on_commit_callbacks
):
    open_window(wa_simulator, wa_channel, wa_lead)
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, alice_key, _url(wa_lead), {"type": "text", "text": TEXT})
        _post(
            client,
            alice_key,
            _url(wa_lead),
            {
                "type": "template",
                "template": "welcome_offer",
                "language": "en",
                "variables": ["Priya"],
            },
        )
    events = list(AuditEvent.objects.filter(workspace_id=wa_lead.workspace_id))
    assert [e.action for e in events].count("message_sent") == 2
    logged = " ".join(f"{e.reason} {e.metadata}" for e in events)
    assert "3BHK" not in logged
    assert "Priya" not in logged


@pytest.mark.parametrize(
    "body",
    [
        {"type": "sms", "text": "hi"},
        {"type": "text", "text": {"$gt": ""}},
        {"type": "text", "text": "hi", "workspace": "beta"},
        {"type": "template", "template": "welcome_offer", "language": "en", "variables": "x"},
        {"type": "text", "text": "hi", "quick_replies": ["a", "b", "c", "d"]},
        {"type": "text", "text": "x" * 5000},
        [],
        "just a string",
    ],
)
def test_hostile_bodies_get_a_typed_4xx_never_a_500(
    client, alice_key, wa_simulator, wa_channel, wa_lead, body
):
    open_window(wa_simulator, wa_channel, wa_lead)
    response = _post(client, alice_key, _url(wa_lead), body)
    assert 400 <= response.status_code < 500, response.content
    assert response.json()["error"]["code"]
    assert _messages(wa_lead.workspace) == []
