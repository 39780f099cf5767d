"""The WhatsApp Cloud API simulator behaves like Meta where the app depends on it.

Real HTTP on loopback both ways: the test sends to the simulator's Graph API with httpx and a
tiny stdlib server stands in for the app's webhook URL, recording raw bodies and headers.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from heroshhi.whatsapp import simulator as simulator_package
from heroshhi.whatsapp.simulator import SimulatorClient, SimulatorError
from heroshhi.whatsapp.simulator.cli import main as cli_main

PNID = "106540352242922"
WABA = "102290129340398"
DISPLAY = "15550783881"
TOKEN = "sim-token-1"
SECRET = "sim-app-secret-1"
CUSTOMER = "919876543210"


@dataclass
class Received:
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.raw)

    @property
    def signature_ok(self) -> bool:
        expected = "sha256=" + hmac.new(SECRET.encode(), self.raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("x-hub-signature-256", ""), expected)

    def statuses(self) -> list[dict[str, Any]]:
        return [
            status
            for entry in self.body["entry"]
            for change in entry["changes"]
            for status in change["value"].get("statuses", [])
        ]


@dataclass
class Receiver:
    """The app's webhook endpoint, as far as the simulator can tell."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses to answer first, then 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, count: int, timeout: float = 3.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.01)
        raise AssertionError(f"expected {count} webhooks, got {len(self.received)}")

    def settle(self, seconds: float = 0.15) -> list[Received]:
        """Wait a little longer, to prove nothing else arrives."""
        time.sleep(seconds)
        with self.lock:
            return list(self.received)

    def statuses(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(s["id"], s["status"]) for r in self.received for s in r.statuses()]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                state.received.append(
                    Received({k.lower(): v for k, v in self.headers.items()}, raw)
                )
                status = state.answers.pop(0) if state.answers else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            from urllib.parse import parse_qs, urlsplit

            query = parse_qs(urlsplit(self.path).query)
            ok = query.get("hub.verify_token") == ["verify-me"]
            body = query["hub.challenge"][0].encode() if ok else b"no"
            self.send_response(200 if ok else 403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/whatsapp/"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def sim(wa_simulator: SimulatorClient, receiver: Receiver) -> SimulatorClient:
    wa_simulator.add_number(
        phone_number_id=PNID,
        waba_id=WABA,
        display_phone_number=DISPLAY,
        access_token=TOKEN,
        app_secret=SECRET,
        webhook_url=receiver.url,
        verify_token="verify-me",
    )
    wa_simulator.configure(
        latency_ms=5, auto_deliver=True, auto_read=True, retry_backoff_seconds=0.05
    )
    return wa_simulator


@pytest.fixture
def graph(sim: SimulatorClient) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=sim.graph_url("v23.0"),
        headers={"Authorization": f"Bearer {TOKEN}"},
        trust_env=False,
    ) as client:
        yield client


def text(body: str = "Hello from the shop", to: str = CUSTOMER, **extra: Any) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": body},
        **extra,
    }


def template(name: str, params: list[str], language: str = "en") -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": language},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}
            ],
        },
    }


def send(graph: httpx.Client, payload: dict[str, Any]) -> str:
    response = graph.post(f"/{PNID}/messages", json=payload)
    assert response.status_code == 200, response.text
    return str(response.json()["messages"][0]["id"])


def graph_error(graph: httpx.Client, payload: Any, status: int = 400) -> dict[str, Any]:
    response = graph.post(f"/{PNID}/messages", json=payload)
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] == "OAuthException"
    assert error["fbtrace_id"]
    assert error["message"].startswith(f"(#{error['code']})")
    return error


def customer_says(sim: SimulatorClient, receiver: Receiver, text: str = "Hi") -> str:
    before = len(receiver.received)
    result = sim.say(from_=CUSTOMER, name="Asha", text=text)
    assert result["delivered_status"] == 200
    receiver.wait(before + 1)
    return str(result["wamid"])


# -- sending inside and outside the 24 h window -----------------------------------------------


def test_text_inside_the_window_is_sent_delivered_and_read_with_signed_webhooks(
    sim: SimulatorClient, receiver: Receiver, graph: httpx.Client
) -> None:
    customer_says(sim, receiver)

    response = graph.post(f"/{PNID}/messages", json=text(biz_opaque_callback_data="crm-msg-42"))

    assert response.status_code == 200
    answer = response.json()
    assert answer["messaging_product"] == "whatsapp"
    assert answer["contacts"] == [{"input": CUSTOMER, "wa_id": CUSTOMER}]
    wamid = answer["messages"][0]["id"]
    assert wamid.startswith("wamid.")
    assert answer["messages"][0]["message_status"] == "accepted"

    posts = receiver.wait(4)
    assert receiver.statuses() == [(wamid, "sent"), (wamid, "delivered"), (wamid, "read")]
    assert all(post.signature_ok for post in posts)
    assert all(post.headers["content-type"] == "application/json" for post in posts)
    sent = posts[1].body
    assert sent["object"] == "whatsapp_business_account"
    assert sent["entry"][0]["id"] == WABA
    value = sent["entry"][0]["changes"][0]["value"]
    assert sent["entry"][0]["changes"][0]["field"] == "messages"
    assert value["metadata"] == {"display_phone_number": DISPLAY, "phone_number_id": PNID}
    status = value["statuses"][0]
    assert status["recipient_id"] == CUSTOMER
    assert status["biz_opaque_callback_data"] == "crm-msg-42"
    assert isinstance(status["timestamp"], str)
    assert status["timestamp"].isdigit()
    assert status["pricing"]["category"] == "service"
    assert status["pricing"]["billable"] is False
    assert sim.outbox(to=CUSTOMER)[0]["status"] == "read"


def test_text_without_an_inbound_message_fails_with_131047(
    sim: SimulatorClient, receiver: Receiver, graph: httpx.Client
) -> None:
    wamid = send(graph, text())

    (post,) = receiver.wait(1)
    (status,) = post.statuses()
    assert (status["id"], status["status"]) == (wamid, "failed")
    assert status["errors"][0]["code"] == 131047
    assert status["errors"][0]["title"] == "Re-engagement message"
    assert "pricing" not in status
    assert len(receiver.settle()) == 1, "a failed message gets no further statuses"
    assert sim.outbox()[0]["error_code"] == 131047


def test_advancing_the_clock_a_day_closes_the_window(
    sim: SimulatorClient, receiver: Receiver, graph: httpx.Client
) -> None:
    customer_says(sim, receiver)
    sim.advance_clock(23 * 3600)
    inside = send(graph, text())
    receiver.wait(4)
    sim.advance_clock(3600 + 1)

    outside = send(graph, text())

    posts = receiver.wait(5)
    assert (inside, "read") in receiver.statuses()
    assert posts[-1].statuses()[0]["id"] == outside
    assert posts[-1].statuses()[0]["errors"][0]["code"] == 131047
    assert sim.conversation(wa_id=CUSTOMER)["window_open"] is False


def test_a_template_needs_no_window(
    sim: SimulatorClient, receiver: Receiver, graph: httpx.Client
) -> None:
    wamid = send(graph, template("appointment_reminder", ["Asha", "Tuesday 10:00"]))

    receiver.wait(3)
    assert receiver.statuses() == [(wamid, "sent"), (wamid, "delivered"), (wamid, "read")]
    (message,) = sim.outbox()
    assert message["text"] == (
        "Hi Asha, this is a reminder of your appointment on Tuesday 10:00. "
        "Reply here to reschedule."
    )
    assert message["category"] == "utility"


# -- synchronous template errors --------------------------------------------------------------


def test_an_unknown_template_or_language_is_refused_with_132001(graph: httpx.Client) -> None:
    assert graph_error(graph, template("no_such_template", ["x"]))["code"] == 132001
    assert graph_error(graph, template("welcome_offer", ["x"], language="pt_BR"))["code"] == 132001
    assert graph_error(graph, template("rejected_promo", ["x"]))["code"] == 132001


def test_a_wrong_parameter_count_is_refused_with_132000(graph: httpx.Client) -> None:
    error = graph_error(graph, template("lead_followup", ["Asha"]))

    assert error["code"] == 132000
    assert "(1)" in error["error_data"]["details"]
    assert "(2)" in error["error_data"]["details"]


def test_paused_and_disabled_templates_are_refused(
    sim: SimulatorClient, graph: httpx.Client
) -> None:
    assert graph_error(graph, template("old_promo", ["Asha"]))["code"] == 132015
    sim.set_templates(
        WABA,
        [{"name": "gone", "language": "en", "category": "UTILITY", "status": "DISABLED"}],
    )
    assert graph_error(graph, template("gone", []))["code"] == 132016


def test_named_parameters_must_match_the_placeholders(
    sim: SimulatorClient, receiver: Receiver, graph: httpx.Client
) -> None:
    sim.set_templates(
        WABA,
        [
            {
                "name": "named",
                "language": "en_US",
                "category": "UTILITY",
                "parameter_format": "NAMED",
                "components": [{"type": "BODY", "text": "Hi {{first_name}}"}],
            }
        ],
    )
    payload = template("named", ["Asha"], language="en_US")
    payload["template"]["components"][0]["parameters"][0]["parameter_name"] = "nickname"
    assert graph_error(graph, payload)["code"] == 132000

    payload["template"]["components"][0]["parameters"][0]["parameter_name"] = "first_name"
    send(graph, payload)
    assert sim.outbox()[0]["text"] == "Hi Asha"


# -- marketing opt-out --------------------------------------------------------------------------


def test_marketing_after_stop_promotions_fails_131050_but_utility_still_goes(
    sim: SimulatorClient, receiver: Receiver, graph: httpx.Client
) -> None:
    result = sim.user_preferences(wa_id=CUSTOMER, value="stop")
    assert result["delivered_status"] == 200
    (preference,) = receiver.wait(1)
    value = preference.body["entry"][0]["changes"][0]["value"]
    assert preference.body["entry"][0]["changes"][0]["field"] == "user_preferences"
    assert value["user_preferences"][0]["value"] == "stop"
    assert value["user_preferences"][0]["category"] == "marketing_messages"
    assert value["user_preferences"][0]["wa_id"] == CUSTOMER
    assert preference.signature_ok

    marketing = send(graph, template("welcome_offer", ["Asha"]))
    utility = send(graph, template("appointment_reminder", ["Asha", "Monday"]))

    receiver.wait(5)
    failed = [s for r in receiver.received for s in r.statuses() if s["status"] == "failed"]
    assert [(s["id"], s["errors"][0]["code"]) for s in failed] == [(marketing, 131050)]
    assert (utility, "read") in receiver.statuses()

    sim.user_preferences(wa_id=CUSTOMER, value="resume")
    again = send(graph, template("welcome_offer", ["Asha"]))
    receiver.wait(9)
    assert (again, "delivered") in receiver.statuses()


# -- rate limits and auth ------------------------------------------------------------------------


def test_throughput_above_the_numbers_limit_gets_429_130429(
    sim: SimulatorClient, graph: httpx.Client
) -> None:
    sim.configure(throughput_per_second=3)
    for position in range(3):
        send(
            graph,
            template("appointment_reminder", ["Asha", "Monday"]) | {"to": f"9198765400{position}"},
        )

    error = graph_error(graph, template("appointment_reminder", ["Asha", "Monday"]), status=429)

    assert error["code"] == 130429
    assert error["is_transient"] is True
    time.sleep(1.05)
    send(graph, template("appointment_reminder", ["Asha", "Monday"]))


def test_too_many_messages_to_one_customer_get_131056(
    sim: SimulatorClient, graph: httpx.Client
) -> None:
    sim.configure(pair_limit=2, pair_window_seconds=1)
    reminder = template("appointment_reminder", ["Asha", "Monday"])
    send(graph, reminder)
    send(graph, reminder)

    assert graph_error(graph, reminder)["code"] == 131056
    send(graph, reminder | {"to": "919800000002"})  # another customer is fine
    time.sleep(1.05)
    send(graph, reminder)


def test_a_wrong_or_missing_token_gets_401_190_and_an_unknown_number_400_100(
    sim: SimulatorClient,
) -> None:
    url = sim.graph_url("v23.0")
    with httpx.Client(trust_env=False) as client:
        wrong = client.post(
            f"{url}/{PNID}/messages", json=text(), headers={"Authorization": "Bearer nope"}
        )
        missing = client.post(f"{url}/{PNID}/messages", json=text())
        unknown = client.post(
            f"{url}/999999/messages", json=text(), headers={"Authorization": f"Bearer {TOKEN}"}
        )
        other_version = client.post(
            f"{sim.graph_url('v19.0')}/{PNID}/messages",
            json=text(),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )

    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, 190)
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, 190)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, 100)
    assert unknown.json()["error"]["error_subcode"] == 33
    assert other_version.status_code == 200
    assert sim.outbox()[0]["wamid"] == other_version.json()["messages"][0]["id"]


def test_malformed_payloads_are_refused_like_meta(graph: httpx.Client) -> None:
    no_product = text()
    del no_product["messaging_product"]
    assert graph_error(graph, no_product)["code"] == 100
    assert graph_error(graph, text("x" * 4097))["code"] == 100
    assert graph_error(graph, text(to="12ab"))["code"] == 100
    assert graph_error(graph, {"messaging_product": "whatsapp", "type": "text"})["code"] == 100
    no_body = text()
    no_body["text"] = {}
    assert graph_error(graph, no_body)["code"] == 100
    media = {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "image", "image": {}}
    assert graph_error(graph, media)["code"] == 131008
    buttons = {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "Pick"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": str(i), "title": "B"}} for i in range(4)
                ]
            },
        },
    }
    assert graph_error(graph, buttons)["code"] == 131009
    response = graph.post(f"/{PNID}/messages", content=b"{not json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 100


def test_other_message_types_are_accepted_and_mark_read_succeeds(
    sim: SimulatorClient, receiver: Receiver, graph: httpx.Client
) -> None:
    inbound = customer_says(sim, receiver)
    send(
        graph,
        {
            "messaging_product": "whatsapp",
            "to": CUSTOMER,
            "type": "document",
            "document": {"link": "https://example.com/q.pdf", "filename": "q.pdf"},
        },
    )
    send(
        graph,
        {
            "messaging_product": "whatsapp",
            "to": CUSTOMER,
            "type": "reaction",
            "reaction": {"message_id": inbound, "emoji": "👍"},
        },
    )
    send(
        graph,
        {
            "messaging_product": "whatsapp",
            "to": CUSTOMER,
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {"text": "Choose"},
                "action": {
                    "button": "Options",
                    "sections": [{"title": "S", "rows": [{"id": "a", "title": "A"}]}],
                },
            },
        },
    )

    read = graph.post(
        f"/{PNID}/messages",
        json={"messaging_product": "whatsapp", "status": "read", "message_id": inbound},
    )

    assert read.status_code == 200
    assert read.json() == {"success": True}
    assert [m["type"] for m in sim.outbox()] == ["document", "reaction", "interactive"]
    (mine,) = [m for m in sim.conversation(wa_id=CUSTOMER)["messages"] if m["direction"] == "in"]
    assert mine["status"] == "read"


def test_sending_to_a_business_scoped_user_id(
    sim: SimulatorClient, receiver: Receiver, graph: httpx.Client
) -> None:
    user_id = sim.say(from_=CUSTOMER, text="Hi")["user_id"]
    receiver.wait(1)

    response = graph.post(
        f"/{PNID}/messages",
        json={
            "messaging_product": "whatsapp",
            "recipient": user_id,
            "type": "text",
            "text": {"body": "Hello"},
        },
    )

    assert response.status_code == 200
    assert response.json()["contacts"][0] == {
        "input": user_id,
        "wa_id": CUSTOMER,
        "user_id": user_id,
    }
    receiver.wait(4)
    assert receiver.received[1].statuses()[0]["recipient_user_id"] == user_id


# -- delivery modes ---------------------------------------------------------------------------


def test_duplicate_mode_posts_every_webhook_again(
    sim: SimulatorClient, receiver: Receiver, graph: httpx.Client
) -> None:
    sim.configure(duplicate=1, auto_read=False)
    wamid = send(graph, template("appointment_reminder", ["Asha", "Monday"]))

    posts = receiver.wait(4)

    assert sorted(receiver.statuses()) == sorted(
        [(wamid, "sent"), (wamid, "sent"), (wamid, "delivered"), (wamid, "delivered")]
    )
    by_status: dict[str, list[bytes]] = {}
    for post in posts:
        by_status.setdefault(post.statuses()[0]["status"], []).append(post.raw)
    assert all(a == b for a, b in by_status.values()), "duplicates are byte-identical"
    # The receiver sees a POST just before the simulator logs its answer.
    log = sim.wait_for_webhooks(lambda entries: len(entries) == 4)
    assert [entry["duplicate"] for entry in log].count(True) == 2


def test_reorder_mode_sends_read_before_delivered_before_sent(
    sim: SimulatorClient, receiver: Receiver, graph: httpx.Client
) -> None:
    sim.configure(reorder=True)
    wamid = send(graph, template("appointment_reminder", ["Asha", "Monday"]))

    receiver.wait(3)

    assert receiver.statuses() == [(wamid, "read"), (wamid, "delivered"), (wamid, "sent")]


def test_batch_mode_puts_several_messages_and_statuses_in_one_post(
    sim: SimulatorClient, receiver: Receiver, graph: httpx.Client
) -> None:
    sim.configure(batch=True, latency_ms=200, batch_window_ms=1000)
    first = send(graph, template("appointment_reminder", ["Asha", "Monday"]))
    second = send(graph, template("lead_followup", ["Asha", "sofas"]))

    (post,) = receiver.wait(1)
    assert len(receiver.settle(0.2)) == 1

    assert post.signature_ok
    entries = post.body["entry"]
    assert [entry["id"] for entry in entries] == [WABA, WABA]
    assert [
        [(s["id"], s["status"]) for s in entry["changes"][0]["value"]["statuses"]]
        for entry in entries
    ] == [
        [(first, "sent"), (first, "delivered"), (first, "read")],
        [(second, "sent"), (second, "delivered"), (second, "read")],
    ]


def test_a_non_200_answer_is_retried_and_logged(sim: SimulatorClient, receiver: Receiver) -> None:
    receiver.answers = [500, 503]

    result = sim.say(from_=CUSTOMER, text="Hi")

    assert result["delivered_status"] == 500
    posts = receiver.wait(3)
    assert posts[0].raw == posts[1].raw == posts[2].raw
    log = sim.wait_for_webhooks(lambda entries: len(entries) == 3)
    assert [(e["attempt"], e["response_status"]) for e in log] == [(0, 500), (1, 503), (2, 200)]
    assert log[0]["item_ids"] == [result["wamid"]]
    assert log[0]["fields"] == ["messages"]


def test_customer_read_and_deliver_without_auto_modes(
    sim: SimulatorClient, receiver: Receiver, graph: httpx.Client
) -> None:
    sim.configure(auto_deliver=False, auto_read=False)
    wamid = send(graph, template("appointment_reminder", ["Asha", "Monday"]))
    receiver.wait(1)
    assert sim.read(to=CUSTOMER) == [], "nothing delivered yet, so nothing to read"

    assert sim.deliver(to=CUSTOMER) == [wamid]
    receiver.wait(2)
    assert sim.read(to=CUSTOMER) == [wamid]

    receiver.wait(3)
    assert receiver.statuses() == [(wamid, "sent"), (wamid, "delivered"), (wamid, "read")]


# -- inbound injection ------------------------------------------------------------------------


def test_an_inbound_text_produces_meta_s_envelope(sim: SimulatorClient, receiver: Receiver) -> None:
    result = sim.inbound(
        from_=CUSTOMER,
        name="Asha",
        text="Is the sofa in stock?",
        referral={"headline": "Sofa sale", "source_id": "ad-7"},
    )

    (post,) = receiver.wait(1)
    assert post.signature_ok
    assert post.headers["user-agent"] == "facebookexternalua"
    body = post.body
    assert body["object"] == "whatsapp_business_account"
    (entry,) = body["entry"]
    (change,) = entry["changes"]
    assert entry["id"] == WABA
    assert change["field"] == "messages"
    value = change["value"]
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"] == {"display_phone_number": DISPLAY, "phone_number_id": PNID}
    (contact,) = value["contacts"]
    assert contact["profile"] == {"name": "Asha"}
    assert contact["wa_id"] == CUSTOMER
    assert contact["user_id"] == result["user_id"]
    assert contact["user_id"].startswith("IN.")
    (message,) = value["messages"]
    assert message["from"] == CUSTOMER
    assert message["id"] == result["wamid"]
    assert message["type"] == "text"
    assert message["text"] == {"body": "Is the sofa in stock?"}
    assert message["timestamp"].isdigit()
    assert message["referral"]["headline"] == "Sofa sale"
    assert message["referral"]["ctwa_clid"]


def test_omit_wa_id_sends_only_the_business_scoped_user_id(
    sim: SimulatorClient, receiver: Receiver
) -> None:
    sim.inbound(from_=CUSTOMER, text="Hi", user_id="IN.1234567890123", omit_wa_id=True)

    (post,) = receiver.wait(1)
    value = post.body["entry"][0]["changes"][0]["value"]
    assert value["contacts"] == [{"profile": {"name": "Customer"}, "user_id": "IN.1234567890123"}]
    assert "from" not in value["messages"][0]


def test_replies_quote_the_business_message(
    sim: SimulatorClient, receiver: Receiver, graph: httpx.Client
) -> None:
    wamid = send(graph, template("welcome_offer", ["Asha"]))
    receiver.wait(3)

    sim.inbound(from_=CUSTOMER, type="button", button_text="Stop promotions")
    sim.inbound(from_=CUSTOMER, type="interactive", reply_id="yes", reply_title="Yes")
    sim.inbound(
        from_=CUSTOMER,
        type="location",
        location={"latitude": 19.07, "longitude": 72.87, "name": "Shop"},
    )

    posts = receiver.wait(6)
    button, reply, location = (
        p.body["entry"][0]["changes"][0]["value"]["messages"][0] for p in posts[3:]
    )
    assert button["button"] == {"payload": "Stop promotions", "text": "Stop promotions"}
    assert button["context"] == {"from": DISPLAY, "id": wamid}
    assert reply["interactive"] == {
        "type": "button_reply",
        "button_reply": {"id": "yes", "title": "Yes"},
    }
    assert location["location"] == {"latitude": 19.07, "longitude": 72.87, "name": "Shop"}


def test_calls_webhooks_have_meta_s_shape(sim: SimulatorClient, receiver: Receiver) -> None:
    call_id = sim.call(from_=CUSTOMER, event="connect")["call_id"]
    sim.call(from_=CUSTOMER, event="terminate", call_id=call_id, duration=42)

    connect, terminate = receiver.wait(2)
    assert connect.body["entry"][0]["changes"][0]["field"] == "calls"
    started = connect.body["entry"][0]["changes"][0]["value"]["calls"][0]
    assert started["id"] == call_id
    assert started["event"] == "connect"
    assert started["direction"] == "USER_INITIATED"
    assert started["to"] == DISPLAY
    ended = terminate.body["entry"][0]["changes"][0]["value"]["calls"][0]
    assert (ended["status"], ended["duration"]) == ("COMPLETED", 42)
    assert int(ended["end_time"]) - int(ended["start_time"]) == 42


# -- media and templates ----------------------------------------------------------------------


def test_inbound_media_can_be_fetched_by_id(
    sim: SimulatorClient, receiver: Receiver, graph: httpx.Client
) -> None:
    sim.inbound(
        from_=CUSTOMER,
        type="document",
        media={"filename": "quote.pdf", "mime_type": "application/pdf", "caption": "signed"},
    )
    (post,) = receiver.wait(1)
    document = post.body["entry"][0]["changes"][0]["value"]["messages"][0]["document"]
    assert document["filename"] == "quote.pdf"
    assert document["caption"] == "signed"

    info = graph.get(f"/{document['id']}")
    assert info.status_code == 200
    meta = info.json()
    assert meta["mime_type"] == "application/pdf"
    assert meta["messaging_product"] == "whatsapp"
    download = graph.get(meta["url"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/pdf"
    assert download.content.startswith(b"%PDF-")
    assert len(download.content) == meta["file_size"]
    assert hashlib.sha256(download.content).hexdigest() == meta["sha256"] == document["sha256"]
    with httpx.Client(trust_env=False) as anonymous:
        assert anonymous.get(meta["url"]).status_code == 401


def test_templates_are_listed_with_paging(graph: httpx.Client) -> None:
    first = graph.get(f"/{WABA}/message_templates", params={"limit": 4})
    assert first.status_code == 200
    page = first.json()
    assert [t["name"] for t in page["data"]] == [
        "welcome_offer",
        "appointment_reminder",
        "lead_followup",
        "order_update_hi",
    ]
    rest = graph.get(page["paging"]["next"]).json()
    assert [(t["name"], t["status"]) for t in rest["data"]] == [
        ("old_promo", "PAUSED"),
        ("rejected_promo", "REJECTED"),
    ]
    assert "next" not in rest["paging"]
    template = page["data"][0]
    assert template["category"] == "MARKETING"
    assert template["language"] == "en"
    assert template["components"][0] == {
        "type": "BODY",
        "text": "Hi {{1}}, welcome! Enjoy 10% off your first order this week.",
    }
    with httpx.Client(trust_env=False) as anonymous:
        denied = anonymous.get(f"{graph.base_url}{WABA}/message_templates")
    assert (denied.status_code, denied.json()["error"]["code"]) == (401, 190)


def test_the_signature_is_over_the_exact_bytes_sent(
    sim: SimulatorClient, receiver: Receiver, graph: httpx.Client
) -> None:
    send(graph, template("order_update_hi", ["आशा"], language="hi"))
    assert sim.outbox()[0]["text"] == "नमस्ते आशा, आपका ऑर्डर भेज दिया गया है।"
    sim.say(from_=CUSTOMER, name="आशा", text="नमस्ते")

    posts = receiver.wait(4)
    inbound = next(p for p in posts if "messages" in p.body["entry"][0]["changes"][0]["value"])
    assert inbound.signature_ok
    assert b"\\u0928" in inbound.raw, "unicode is escaped on the wire, like Meta"
    reserialized = json.dumps(inbound.body, ensure_ascii=False).encode()
    expected = "sha256=" + hmac.new(SECRET.encode(), reserialized, hashlib.sha256).hexdigest()
    assert inbound.headers["x-hub-signature-256"] != expected


def test_raw_webhooks_can_be_unsigned_or_wrongly_signed(
    sim: SimulatorClient, receiver: Receiver
) -> None:
    assert sim.raw_webhook(body="not json at all", sign=False) == 200
    assert (
        sim.raw_webhook(body={"object": "page", "entry": []}, signature_override="sha256=00") == 200
    )

    unsigned, forged = receiver.wait(2)
    assert unsigned.raw == b"not json at all"
    assert "x-hub-signature-256" not in unsigned.headers
    assert forged.headers["x-hub-signature-256"] == "sha256=00"
    assert not forged.signature_ok


def test_the_verification_handshake(sim: SimulatorClient) -> None:
    assert sim.verify()["ok"] is True
    refused = sim.verify(verify_token="wrong")
    assert (refused["ok"], refused["status"]) == (False, 403)


# -- control API ------------------------------------------------------------------------------


def test_reset_forgets_messages_but_keeps_numbers(
    sim: SimulatorClient, receiver: Receiver, graph: httpx.Client
) -> None:
    customer_says(sim, receiver)
    send(graph, text())
    sim.advance_clock(100)

    sim.reset()

    assert sim.outbox() == []
    assert sim.webhook_log() == []
    assert sim.conversation(wa_id=CUSTOMER)["window_open"] is False
    assert [n["phone_number_id"] for n in sim.numbers() if n["phone_number_id"] == PNID] == [PNID]
    assert "access_token" not in sim.numbers()[0]
    assert sim.settings()["latency_ms"] == 10, "back to the fixture's settings"


def test_bad_control_input_gets_a_typed_error(sim: SimulatorClient) -> None:
    with pytest.raises(SimulatorError) as incomplete:
        sim.add_number(
            phone_number_id="1",
            waba_id="",
            display_phone_number="1",
            access_token="t",
            app_secret="s",
        )
    assert incomplete.value.status == 400
    assert incomplete.value.payload["error"]["fields"] == {"waba_id": "This field is required."}

    with pytest.raises(SimulatorError) as unknown_setting:
        sim.configure(lattency_ms=3)
    assert "lattency_ms" in unknown_setting.value.payload["error"]["fields"]

    with pytest.raises(SimulatorError) as bad_number:
        sim.say(from_="not-a-number", text="Hi", phone_number_id=PNID)
    assert bad_number.value.payload["error"]["code"] == "invalid"

    with pytest.raises(SimulatorError) as unknown:
        sim.say(from_=CUSTOMER, text="Hi", phone_number_id="404")
    assert unknown.value.status == 404


def test_the_customer_page_is_self_contained(sim: SimulatorClient) -> None:
    with httpx.Client(base_url=sim.base_url, trust_env=False) as client:
        page = client.get("/_sim/customer")
        script = client.get("/_sim/customer.js")
        style = client.get("/_sim/customer.css")

    assert page.status_code == script.status_code == style.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for label in (
        "Business number",
        "Customer number",
        "Customer name",
        "Message",
        "Send",
        "Stop promotions",
        "Open chat",
        "Send location",
        "Send document",
    ):
        assert label in page.text
    assert "<script>" not in page.text
    assert "style=" not in page.text
    assert "http" not in page.text
    assert script.headers["content-type"].startswith("text/javascript")


def test_the_cli_talks_to_a_running_simulator(
    sim: SimulatorClient, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli_main(
        [
            "say",
            "--url",
            sim.base_url,
            "--phone-number-id",
            PNID,
            "--from",
            CUSTOMER,
            "--name",
            "Asha",
            "--text",
            "Hi from the CLI",
        ]
    )

    assert code == 0
    assert json.loads(capsys.readouterr().out)["delivered_status"] == 200
    (post,) = receiver.wait(1)
    assert (
        post.body["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"]
        == "Hi from the CLI"
    )
    assert (
        cli_main(["stop", "--url", sim.base_url, "--from", CUSTOMER, "--phone-number-id", PNID])
        == 0
    )
    assert cli_main(["say", "--url", sim.base_url, "--from", "x", "--text", "Hi"]) == 1


# -- the customer page in a real browser ------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
# Runs before any page script and outside the page's CSP; records every violation.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@pytest.mark.browser
def test_the_customer_page_drives_a_conversation(
    sim: SimulatorClient, receiver: Receiver, graph: httpx.Client
) -> None:
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (Debian package 'chromium')")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.add_init_script(RECORD_CSP_VIOLATIONS)
            page.goto(f"{sim.base_url}/_sim/customer")
            page.get_by_label("Business number").select_option(PNID)
            page.get_by_label("Customer number").fill(CUSTOMER)
            page.get_by_label("Customer name").fill("Asha")
            page.get_by_label("Message", exact=True).fill("Do you deliver to Pune?")
            page.get_by_role("button", name="Send", exact=True).click()

            (post,) = receiver.wait(1)
            value = post.body["entry"][0]["changes"][0]["value"]
            assert value["messages"][0]["text"]["body"] == "Do you deliver to Pune?"
            assert value["contacts"][0]["profile"]["name"] == "Asha"
            conversation = page.get_by_role("log", name="Conversation")
            expect(conversation).to_contain_text("Do you deliver to Pune?")
            expect(page.locator("#window-state")).to_have_text("24 h window: open")

            wamid = send(graph, template("welcome_offer", ["Asha"]))
            expect(conversation).to_contain_text("Hi Asha, welcome!")
            conversation.get_by_role("button", name="Interested").click()
            page.locator("#stop-promotions").click()  # the template has such a button too
            expect(page.locator("#marketing-state")).to_have_text("Marketing: stopped")

            posts = receiver.wait(6)
            kinds = [p.body["entry"][0]["changes"][0] for p in posts]
            button = next(
                c["value"]["messages"][0]
                for c in kinds
                if "messages" in c["value"] and c["value"]["messages"][0]["type"] == "button"
            )
            assert button["button"]["text"] == "Interested"
            assert button["context"]["id"] == wamid
            assert any(c["field"] == "user_preferences" for c in kinds)
            assert page.evaluate("window.__cspViolations") == []
        finally:
            browser.close()


def _sibling_imports(source: str) -> set[str]:
    """The simulator modules a module imports (`from .x import y`, `from . import x`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                names.add(node.module.split(".")[0])
            else:
                names.update(alias.name for alias in node.names)
    return names


def test_the_simulator_modules_import_each_other_in_one_direction():
    """No cycles (type-only imports count): the state never reaches for its dispatcher."""
    package = Path(simulator_package.__file__).parent
    imports = {path.stem: _sibling_imports(path.read_text()) for path in package.glob("*.py")}

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for module in imports.get(start, set()) - seen:
            seen.add(module)
            if module == target or reaches(module, target, seen):
                return True
        return False

    assert [name for name in sorted(imports) if reaches(name, name, set())] == []
    assert not reaches("state", "dispatcher", set())
