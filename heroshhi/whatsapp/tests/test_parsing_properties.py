"""Whatever a signed body holds inside Meta's envelope, reading it never raises and never
loses a valid item beside the junk: junk becomes ``ItemError`` or ``Unknown`` in its place."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heroshhi.messaging.events import CallEvent, InboundMessage, StatusUpdate, UserPreference
from heroshhi.whatsapp.parsing import load_body, parse_delivery

NUMBER_ID = "106540352200001"

# Any JSON value, as json.loads can return it (NaN and infinities included: Python reads them).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
# Junk shaped like the fields Meta uses, so it reaches the readers and not only the guards.
field_names = st.sampled_from(
    [
        "id",
        "from",
        "timestamp",
        "type",
        "text",
        "status",
        "recipient_id",
        "errors",
        "context",
        "referral",
        "interactive",
        "button",
        "image",
        "contacts",
        "user_id",
        "event",
        "value",
        "duration",
        "direction",
        "to",
        "start_time",
        "category",
        "wa_id",
        "message_template_id",
    ]
)
json_objects = st.dictionaries(field_names | st.text(max_size=8), json_values, max_size=6)
# Changes of the kinds we read, with junk in their lists.
known_changes = st.fixed_dictionaries(
    {
        "field": st.sampled_from(
            ["messages", "calls", "user_preferences", "message_template_status_update"]
        ),
        "value": st.dictionaries(
            st.sampled_from(["messages", "statuses", "calls", "user_preferences", "contacts"])
            | st.sampled_from(["event", "message_template_name", "metadata"]),
            st.lists(json_objects, max_size=3) | json_values,
            max_size=4,
        ),
    }
)
junk = json_values | json_objects | known_changes


def _valid_message(n: int) -> dict[str, Any]:
    return {
        "from": "919876500001",
        "id": f"wamid.valid.{n}",
        "timestamp": "1760000000",
        "type": "text",
        "text": {"body": f"hello {n}"},
    }


def _valid_status(n: int) -> dict[str, Any]:
    return {
        "id": f"wamid.sent.{n}",
        "status": "delivered",
        "timestamp": "1760000000",
        "recipient_id": "919876500001",
    }


def _valid_call(n: int) -> dict[str, Any]:
    return {
        "id": f"wacid.valid.{n}",
        "from": "919876500001",
        "to": "15550783881",
        "event": "terminate",
        "direction": "USER_INITIATED",
        "timestamp": "1760000000",
        "status": "COMPLETED",
        "duration": 42,
    }


def _valid_preference() -> dict[str, Any]:
    return {
        "wa_id": "919876500001",
        "category": "marketing_messages",
        "value": "stop",
        "timestamp": "1760000000",
    }


def _spoilt(valid: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The valid item with some of its own fields replaced by junk or dropped."""
    keys = sorted(valid)
    return st.tuples(
        st.dictionaries(st.sampled_from(keys), json_values, max_size=3),
        st.sets(st.sampled_from(keys), max_size=2),
    ).map(
        lambda changed: {
            key: value for key, value in {**valid, **changed[0]}.items() if key not in changed[1]
        }
    )


def _change(field: str, key: str, items: list[Any]) -> dict[str, Any]:
    value = {"metadata": {"phone_number_id": NUMBER_ID}, key: items}
    return {"field": field, "value": value}


def _read(body: dict[str, Any]):
    # Through the encoder and load_body, as a stored delivery is read.
    return parse_delivery(load_body(json.dumps(body)), phone_number_id=NUMBER_ID)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=st.lists(junk, max_size=3),
    after=st.lists(junk, max_size=3),
    extra_value=st.dictionaries(
        st.sampled_from(["contacts", "statuses", "errors", "calls", "user_preferences"]),
        json_values,
        max_size=3,
    ),
    junk_changes=st.lists(junk, max_size=3),
    junk_entries=st.lists(junk, max_size=3),
    message_junk=json_objects,
    spoilt_message=_spoilt(_valid_message(98)),
    spoilt_status=_spoilt(_valid_status(98)),
    spoilt_call=_spoilt(_valid_call(98)),
    spoilt_preference=_spoilt(_valid_preference()),
)
def test_junk_never_raises_and_never_hides_a_valid_sibling(
    before,
    after,
    extra_value,
    junk_changes,
    junk_entries,
    message_junk,
    spoilt_message,
    spoilt_status,
    spoilt_call,
    spoilt_preference,
):
    # Valid items spoilt with junk fields sit among the valid ones: they may fail alone.
    spoilt = {**_valid_message(99), **message_junk}
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"phone_number_id": NUMBER_ID},
        **extra_value,
        "messages": [*before, _valid_message(1), spoilt, _valid_message(2), spoilt_message],
    }
    if "statuses" not in extra_value:
        value["statuses"] = [*after, spoilt_status, _valid_status(1)]
    calls = _change("calls", "calls", [spoilt_call, _valid_call(1), *after])
    preferences = _change(
        "user_preferences", "user_preferences", [spoilt_preference, _valid_preference()]
    )
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            *junk_entries,
            {
                "id": "1",
                "changes": [
                    *junk_changes,
                    {"field": "messages", "value": value},
                    calls,
                    preferences,
                ],
            },
        ],
    }

    parsed = _read(body)

    assert len(parsed.paths) == len(parsed.items)
    read_ids = {
        item.provider_message_id
        for item in parsed.items
        if isinstance(item, InboundMessage | StatusUpdate)
    }
    assert {"wamid.valid.1", "wamid.valid.2"} <= read_ids
    if "statuses" not in extra_value:
        assert "wamid.sent.1" in read_ids
    calls_read = [item for item in parsed.items if isinstance(item, CallEvent)]
    assert "wacid.valid.1" in {call.call_id for call in calls_read}
    assert any(isinstance(item, UserPreference) for item in parsed.items)
    # Every item keeps its own place: the valid ones are found at their paths.
    by_path = dict(zip(parsed.paths, parsed.items, strict=True))
    offset = len(junk_changes)
    first = by_path[f"entry[{len(junk_entries)}].changes[{offset}].messages[{len(before)}]"]
    assert isinstance(first, InboundMessage)
    assert first.provider_message_id == "wamid.valid.1"


@settings(max_examples=200, deadline=None)
@given(entry=junk)
def test_any_entry_list_content_is_read_without_raising(entry):
    parsed = _read({"object": "whatsapp_business_account", "entry": [entry, entry]})

    assert len(parsed.paths) == len(parsed.items)
