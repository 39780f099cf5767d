"""The Graph transport against the simulator: ids back, errors mapped by code, nothing secret
in the logs."""

from __future__ import annotations

import logging

import pytest

from heroshhi.messaging.channels import transport_for
from heroshhi.messaging.errors import GENERIC_REASON, describe, is_transient, reason_for
from heroshhi.messaging.transport import TransportError
from heroshhi.whatsapp.transport import GraphTransport

pytestmark = pytest.mark.django_db
TO = "919876543210"


def _template(name="appointment_reminder", variables=("Priya", "Monday")):
    return {
        "recipient_type": "individual",
        "to": TO,
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": "en", "policy": "deterministic"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": v} for v in variables]}
            ],
        },
    }


def _refusal(channel, payload) -> TransportError:
    with pytest.raises(TransportError) as refused:
        GraphTransport().send(channel, payload)
    return refused.value


def test_the_domain_gets_the_graph_transport(wa_channel):
    assert isinstance(transport_for(wa_channel.channel), GraphTransport)


def test_send_returns_the_wamid_whatsapp_accepted(wa_simulator, wa_channel):
    wamid = GraphTransport().send(wa_channel, _template())
    [sent] = wa_simulator.outbox(phone_number_id=wa_channel.phone_number_id)
    assert sent["wamid"] == wamid
    assert wamid.startswith("wamid.")
    assert sent["template"]["name"] == "appointment_reminder"


def test_a_wrong_token_is_190_and_permanent(wa_simulator, make_wa_channel, caplog):
    channel = make_wa_channel(token="EAAG-not-the-token", sync_templates=False)
    with caplog.at_level(logging.DEBUG):
        error = _refusal(channel, _template())
    assert (error.code, error.transient) == (190, False)
    # The log names the operation and the code, never the token, ids or the recipient.
    assert "190" in caplog.text
    assert "EAAG-not-the-token" not in caplog.text
    assert TO not in caplog.text
    assert channel.phone_number_id not in caplog.text
    assert "EAAG-not-the-token" not in str(error)


def test_throughput_is_130429_and_transient(wa_simulator, make_wa_channel):
    channel = make_wa_channel(throughput_per_second=1)
    GraphTransport().send(channel, _template())
    error = _refusal(channel, _template())
    assert (error.code, error.transient) == (130429, True)


def test_the_pair_limit_is_131056_and_transient(wa_simulator, wa_channel):
    wa_simulator.configure(pair_limit=1)
    GraphTransport().send(wa_channel, _template())
    error = _refusal(wa_channel, _template())
    assert (error.code, error.transient) == (131056, True)


def test_template_errors_are_permanent(wa_simulator, wa_channel):
    assert _refusal(wa_channel, _template(name="no_such_template")).code == 132001
    assert _refusal(wa_channel, _template(variables=("only one",))).code == 132000
    assert _refusal(wa_channel, _template(name="old_promo", variables=("x",))).code == 132015
    for code in (132001, 132000, 132015):
        assert not is_transient(code)


def test_an_unreachable_graph_is_transient(settings, wa_channel):
    settings.WHATSAPP_GRAPH_BASE_URL = "http://127.0.0.1:9"
    error = _refusal(wa_channel, _template())
    assert (error.code, error.transient, error.title) == (None, True, "network error")


def test_a_base_url_off_the_allow_list_is_refused_before_any_request(settings, wa_channel):
    settings.WHATSAPP_GRAPH_BASE_URL = "http://graph.example.com"
    error = _refusal(wa_channel, _template())
    assert (error.code, error.transient, error.title) == (None, False, "egress denied")


def test_fetch_templates_lists_the_accounts_templates(wa_simulator, wa_channel):
    templates = GraphTransport().fetch_templates(wa_channel.channel)
    names = {t["name"] for t in templates}
    assert {"appointment_reminder", "welcome_offer", "old_promo"} <= names
    assert all("components" in t and "status" in t for t in templates)


def test_fetch_media_gives_the_download_metadata(wa_simulator, wa_channel):
    sent = wa_simulator.inbound(
        from_=TO, type="image", phone_number_id=wa_channel.phone_number_id, text="the site plan"
    )
    image = sent["body"]["entry"][0]["changes"][0]["value"]["messages"][0]["image"]
    media = GraphTransport().fetch_media(wa_channel.channel, image["id"])
    assert media["mime_type"] == image["mime_type"]
    assert media["sha256"] == image["sha256"]
    assert media["url"]
    with pytest.raises(TransportError):
        GraphTransport().fetch_media(wa_channel.channel, "../../etc")


def test_mark_read_marks_the_contacts_message_read(wa_simulator, wa_channel):
    inbound = wa_simulator.say(from_=TO, text="Hello", phone_number_id=wa_channel.phone_number_id)
    GraphTransport().mark_read(wa_channel.channel, inbound["wamid"])
    thread = wa_simulator.conversation(wa_id=TO, phone_number_id=wa_channel.phone_number_id)
    [message] = [m for m in thread["messages"] if m["wamid"] == inbound["wamid"]]
    assert message["status"] == "read"


# The error table -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "transient"),
    [
        (131047, False),
        (131050, False),
        (131026, False),
        (131049, False),
        (130429, True),
        (131056, True),
        (132000, False),
        (132001, False),
        (132015, False),
        (132016, False),
        (190, False),
        (131000, True),
        (131016, True),
        (368, False),
        (131031, False),
        (80007, True),
        (250, False),
    ],
)
def test_known_codes_have_our_own_reason_and_a_retry_verdict(code, transient):
    info = describe(code)
    assert info.transient is transient
    assert info.reason
    assert info.reason != GENERIC_REASON


def test_unknown_codes_are_generic_and_retried_only_when_the_provider_says_so():
    assert describe(999999) == describe(999999, provider_transient=False)
    assert reason_for(999999) == GENERIC_REASON
    assert describe(999999).transient is False
    assert describe(999999, provider_transient=True).transient is True
    assert describe(None).reason == GENERIC_REASON
