"""Reading webhook bodies into items: every level of a batch, odd and broken items."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from heroshhi.messaging.events import (
    CallEvent,
    InboundMessage,
    StatusUpdate,
    TemplateStatusUpdate,
    UserPreference,
)
from heroshhi.whatsapp.parsing import ItemError, PayloadError, Unknown, load_body, parse_delivery

NUMBER = "106540352242922"
META = {"display_phone_number": "15550783881", "phone_number_id": NUMBER}


def _change(field: str = "messages", **value):
    return {"field": field, "value": {"messaging_product": "whatsapp", "metadata": META, **value}}


def _body(*entries):
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": list(e)} for e in entries],
    }


def _parse(body):
    return parse_delivery(body, phone_number_id=NUMBER).items


def _message(wamid="wamid.A", kind="text", **extra):
    return {"from": "16505551234", "id": wamid, "timestamp": "1749416383", "type": kind, **extra}


CONTACT = {"profile": {"name": "Sheena"}, "wa_id": "16505551234", "user_id": "US.1349"}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (b'{"entry": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "too_deep"),
        (b'{"entry": ' + b"[" * 40 + b"]" * 40 + b"}", "too_deep"),
        (b'{"object": "page", "entry": []}', "wrong_object"),
        (b'{"object": "whatsapp_business_account"}', "missing_entry"),
    ],
)
def test_it_refuses_bodies_that_are_not_whatsapp_webhooks(raw, reason):
    with pytest.raises(PayloadError) as caught:
        load_body(raw)
    assert caught.value.reason == reason


def test_it_reads_a_text_message_with_its_contact():
    body = _body([_change(contacts=[CONTACT], messages=[_message(text={"body": "Hi"})])])

    [item] = _parse(body)

    assert isinstance(item, InboundMessage)
    assert item.provider_message_id == "wamid.A"
    assert item.kind == "text"
    assert item.text == "Hi"
    assert item.timestamp == datetime.fromtimestamp(1749416383, tz=UTC)
    assert item.contact.phone_digits == "16505551234"
    assert item.contact.user_id == "US.1349"
    assert item.contact.name == "Sheena"
    assert item.keyword_candidates == ("Hi",)


def test_it_walks_every_entry_change_and_item_of_a_batch():
    body = _body(
        [
            _change(
                contacts=[CONTACT],
                messages=[
                    _message("wamid.1", text={"body": "a"}),
                    _message("wamid.2", text={"body": "b"}),
                ],
                statuses=[{"id": "wamid.9", "status": "sent", "timestamp": "1"}],
            ),
            _change(statuses=[{"id": "wamid.9", "status": "read", "timestamp": "3"}]),
        ],
        [_change(contacts=[CONTACT], messages=[_message("wamid.3", text={"body": "c"})])],
    )

    items = _parse(body)

    assert [i.provider_message_id for i in items if isinstance(i, InboundMessage)] == [
        "wamid.1",
        "wamid.2",
        "wamid.3",
    ]
    assert [(i.provider_message_id, i.status) for i in items if isinstance(i, StatusUpdate)] == [
        ("wamid.9", "sent"),
        ("wamid.9", "read"),
    ]


def test_a_broken_item_is_an_error_and_its_neighbours_still_count():
    body = _body(
        [
            _change(
                contacts=[CONTACT],
                messages=[
                    {"from": "16505551234", "timestamp": "1", "type": "text"},  # no id
                    _message("wamid.ok", text={"body": "fine"}),
                    _message("wamid.late", timestamp="yesterday", text={"body": "x"}),
                    "not an object",
                ],
                statuses=[{"id": "wamid.9", "timestamp": "1"}],  # no status
            )
        ]
    )

    items = _parse(body)

    errors = [i for i in items if isinstance(i, ItemError)]
    assert [(e.where, e.reason) for e in errors] == [
        ("entry[0].changes[0].messages[0]", "missing_id"),
        ("entry[0].changes[0].messages[2]", "invalid_timestamp"),
        ("entry[0].changes[0].messages[3]", "not_an_object"),
        ("entry[0].changes[0].statuses[0]", "missing_status"),
    ]
    assert [i.provider_message_id for i in items if isinstance(i, InboundMessage)] == ["wamid.ok"]


def test_a_contact_without_a_phone_is_known_by_its_user_id():
    contact = {"profile": {"name": "Ravi"}, "user_id": "IN.9876"}
    message = {"id": "wamid.B", "timestamp": "1", "type": "text", "text": {"body": "Hello"}}

    [item] = _parse(_body([_change(contacts=[contact], messages=[message])]))

    assert isinstance(item, InboundMessage)
    assert item.contact.phone_digits is None
    assert item.contact.user_id == "IN.9876"
    assert item.contact.name == "Ravi"


def test_a_message_with_no_way_to_tell_the_sender_is_an_error():
    message = {"id": "wamid.B", "timestamp": "1", "type": "text", "text": {"body": "Hello"}}

    [item] = _parse(_body([_change(messages=[message])]))

    assert item == ItemError("entry[0].changes[0].messages[0]", "missing_sender")


def test_unknown_message_types_are_kept_as_unsupported():
    raw = _message(kind="order", order={"catalog_id": "1"}, errors=[{"code": 131051}])

    [item] = _parse(_body([_change(contacts=[CONTACT], messages=[raw])]))

    assert isinstance(item, InboundMessage)
    assert item.kind == "unsupported"
    assert item.payload == {"type": "order", "error_code": 131051}


def test_media_location_buttons_replies_and_referral_land_in_the_payload():
    messages = [
        _message(
            "wamid.doc",
            "document",
            document={
                "id": "123",
                "mime_type": "application/pdf",
                "sha256": "abc",
                "filename": "quote.pdf",
                "caption": "signed",
                "link": {"nested": "dropped"},
            },
        ),
        _message(
            "wamid.loc",
            "location",
            location={"latitude": 38.7, "longitude": -9.1, "name": "Office"},
        ),
        _message(
            "wamid.btn", "button", button={"payload": "STOP_PROMO", "text": "Stop promotions"}
        ),
        _message(
            "wamid.int",
            "interactive",
            interactive={
                "type": "button_reply",
                "button_reply": {"id": "book", "title": "Book a call"},
            },
        ),
        _message(
            "wamid.ref",
            text={"body": "Hi"},
            referral={"source_type": "ad", "source_id": "120", "ctwa_clid": "clid", "bogus": "x"},
            context={"from": "15550783881", "id": "wamid.OURS"},
        ),
    ]

    doc, loc, btn, reply, ref = _parse(_body([_change(contacts=[CONTACT], messages=messages)]))

    assert doc.text == "signed"
    assert doc.payload == {
        "media": {
            "id": "123",
            "mime_type": "application/pdf",
            "sha256": "abc",
            "filename": "quote.pdf",
        }
    }
    assert loc.payload == {"location": {"latitude": 38.7, "longitude": -9.1, "name": "Office"}}
    assert btn.payload == {"button": {"payload": "STOP_PROMO", "text": "Stop promotions"}}
    assert btn.keyword_candidates == ("STOP_PROMO", "Stop promotions")
    assert reply.payload == {
        "interactive": {"type": "button_reply", "id": "book", "title": "Book a call"}
    }
    assert reply.text == "Book a call"
    assert ref.referral == {"source_type": "ad", "source_id": "120", "ctwa_clid": "clid"}
    assert ref.payload["referral"] == ref.referral
    assert ref.payload["context_id"] == "wamid.OURS"


def test_statuses_carry_errors_and_callback_data():
    raw = {
        "id": "wamid.X",
        "status": "failed",
        "timestamp": "1750857384",
        "recipient_id": "16505551234",
        "biz_opaque_callback_data": "c0ffee",
        "errors": [{"code": 131050, "title": "Marketing stopped"}],
    }

    [item] = _parse(_body([_change(statuses=[raw, {**raw, "status": "deleted"}])]))[:1]

    assert isinstance(item, StatusUpdate)
    assert (item.status, item.error_code, item.callback_data) == ("failed", 131050, "c0ffee")
    assert item.contact.phone_digits == "16505551234"


def test_an_unknown_status_name_is_counted_not_failed():
    raw = {"id": "wamid.X", "status": "deleted", "timestamp": "1"}

    assert _parse(_body([_change(statuses=[raw])])) == [Unknown("status:deleted")]


def test_user_preferences_calls_and_template_updates():
    body = _body(
        [
            _change(
                "user_preferences",
                contacts=[CONTACT],
                user_preferences=[
                    {
                        "wa_id": "16505551234",
                        "category": "marketing_messages",
                        "value": "stop",
                        "timestamp": 1750000000,
                    }
                ],
            ),
            _change(
                "calls",
                contacts=[CONTACT],
                calls=[
                    {
                        "id": "wacid.1",
                        "from": "16505551234",
                        "to": "15550783881",
                        "event": "terminate",
                        "timestamp": "1749417100",
                        "direction": "USER_INITIATED",
                        "status": "COMPLETED",
                        "start_time": "1749417000",
                        "end_time": "1749417100",
                        "duration": 100,
                    }
                ],
            ),
            {
                "field": "message_template_status_update",
                "value": {
                    "event": "APPROVED",
                    "message_template_id": 42,
                    "message_template_name": "welcome",
                    "message_template_language": "en",
                },
            },
            _change("account_update", event="VERIFIED"),
        ]
    )

    preference, call, template, unknown = _parse(body)

    assert isinstance(preference, UserPreference)
    assert (preference.value, preference.contact.phone_digits) == ("stop", "16505551234")
    assert isinstance(call, CallEvent)
    assert (call.call_id, call.event, call.status, call.duration_seconds) == (
        "wacid.1",
        "terminate",
        "COMPLETED",
        100,
    )
    assert call.contact.phone_digits == "16505551234"
    assert call.contact_initiated is True
    assert template == TemplateStatusUpdate("42", "welcome", "en", "APPROVED", None)
    assert unknown == Unknown("field:account_update")


def test_changes_for_another_number_are_skipped_and_counted():
    other = {
        "field": "messages",
        "value": {"metadata": {"phone_number_id": "999"}, "messages": [_message()]},
    }

    parsed = parse_delivery(_body([other]), phone_number_id=NUMBER)

    assert parsed.items == []
    assert parsed.foreign_numbers == 1
