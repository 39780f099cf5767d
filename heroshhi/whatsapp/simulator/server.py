"""The HTTP side: Graph API routes, the /_sim/ control API and the customer page."""

from __future__ import annotations

import json
import re
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from . import graph, inbound, outbound
from .client import SimulatorClient
from .dispatcher import Dispatcher
from .records import ControlError, public_number
from .state import Simulator

MAX_BODY_BYTES = 5 * 1024 * 1024
ASSETS = Path(__file__).resolve().parent / "assets"
PAGE_TYPES = {
    "customer": ("customer.html", "text/html; charset=utf-8"),
    "customer.js": ("customer.js", "text/javascript; charset=utf-8"),
    "customer.css": ("customer.css", "text/css; charset=utf-8"),
}
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'"
)

_SEND = re.compile(r"^/v\d+\.\d+/(?P<id>[^/]+)/messages$")
_TEMPLATES = re.compile(r"^/v\d+\.\d+/(?P<id>[^/]+)/message_templates$")
_OBJECT = re.compile(r"^/v\d+\.\d+/(?P<id>[^/]+)$")
_DOWNLOAD = re.compile(r"^/media-download/(?P<id>[^/]+)$")

Reply = tuple[int, Any]


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], simulator: Simulator, *, quiet: bool = True):
        self.simulator = simulator
        self.dispatcher = Dispatcher(simulator)
        self.quiet = quiet
        super().__init__(address, Handler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - display only
        return f"http://{host}:{port}"

    def start(self) -> None:
        self.dispatcher.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.dispatcher.stop()


class Handler(BaseHTTPRequestHandler):
    server: SimulatorServer
    protocol_version = "HTTP/1.1"
    server_version = "WhatsAppCloudSimulator/1.0"

    # -- plumbing ------------------------------------------------------------------------

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(self.path).path
        # Not the customer page's polling; path only: query strings carry phone numbers.
        if not self.server.quiet and not (self.command == "GET" and path.startswith("/_sim/")):
            sys.stderr.write(f"[wa-simulator] {self.command} {path} {code}\n")

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the stdlib default prints the full request line (with the query)."""

    def _reply(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        if isinstance(payload, bytes):
            data = payload
        elif isinstance(payload, str):
            data = payload.encode()
        else:
            data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        if content_type.startswith("text/html"):
            self.send_header("Content-Security-Policy", PAGE_CSP)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise ControlError("Request body too large.", status=413)
        return self.rfile.read(length) if length else b""

    def _json(self, raw: bytes) -> Any:
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise ControlError("The body is not valid JSON.") from None

    def _token(self, query: dict[str, str]) -> str | None:
        header = self.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            return header[7:].strip()
        return query.get("access_token")

    @property
    def base_url(self) -> str:
        host = self.headers.get("Host")
        return f"http://{host}" if host else self.server.base_url

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            raw = self._body()
            if parts.path.startswith("/_sim/") or parts.path == "/":
                self._control(method, parts.path, query, raw)
            else:
                self._graph(method, parts.path, query, raw)
        except ControlError as error:
            self._reply(error.status, error.envelope())
        except Exception as error:
            self._reply(500, {"error": {"code": "internal", "message": repr(error), "fields": {}}})

    # -- Graph API -----------------------------------------------------------------------

    def _graph(self, method: str, path: str, query: dict[str, str], raw: bytes) -> None:
        simulator = self.server.simulator
        token = self._token(query)
        if method == "POST" and (match := _SEND.match(path)):
            try:
                payload = json.loads(raw) if raw.strip() else None
            except ValueError:
                error = graph.invalid("The request body is not valid JSON")
                self._reply(error.http_status, error.envelope())
                return
            self._reply(*outbound.graph_send(simulator, match["id"], token, payload))
        elif method == "GET" and (match := _TEMPLATES.match(path)):
            self._reply(
                *outbound.list_templates(simulator, match["id"], token, query, self.base_url, path)
            )
        elif method == "GET" and (match := _DOWNLOAD.match(path)):
            status, content, content_type = outbound.media_download(simulator, match["id"], token)
            self._reply(status, content, content_type)
        elif method == "GET" and (match := _OBJECT.match(path)):
            self._reply(*outbound.graph_object(simulator, match["id"], token, self.base_url))
        else:
            error = graph.GraphError(
                400, 100, "Unsupported request - method type or path not supported", path
            )
            self._reply(error.http_status, error.envelope())

    # -- control API ---------------------------------------------------------------------

    def _control(self, method: str, path: str, query: dict[str, str], raw: bytes) -> None:
        if method == "GET" and path == "/":
            self.send_response(302)
            self.send_header("Location", "/_sim/customer")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        name = path.removeprefix("/_sim/")
        if method == "GET" and name in PAGE_TYPES:
            filename, content_type = PAGE_TYPES[name]
            self._reply(200, (ASSETS / filename).read_bytes(), content_type)
            return
        route = CONTROL_ROUTES.get((method, name))
        if route is None:
            raise ControlError("No such control endpoint.", status=404)
        data = self._json(raw) if method == "POST" else {}
        if not isinstance(data, dict):
            raise ControlError("Send a JSON object.")
        self._reply(*route(self.server, query, data))


# Control routes: (server, query, JSON body) -> (status, JSON reply).


def _health(server: SimulatorServer, query: dict[str, str], data: dict[str, Any]) -> Reply:
    return 200, {"ok": True}


def _numbers_list(server: SimulatorServer, query: dict[str, str], data: dict[str, Any]) -> Reply:
    with server.simulator.lock:
        return 200, {"numbers": [public_number(n) for n in server.simulator.numbers.values()]}


def _numbers_upsert(server: SimulatorServer, query: dict[str, str], data: dict[str, Any]) -> Reply:
    return 200, {"number": server.simulator.upsert_number(data)}


def _templates_get(server: SimulatorServer, query: dict[str, str], data: dict[str, Any]) -> Reply:
    if not query.get("waba_id"):
        raise ControlError("Which WABA?", {"waba_id": "Required."})
    return 200, {"templates": server.simulator.templates_for(query["waba_id"])}


def _templates_set(server: SimulatorServer, query: dict[str, str], data: dict[str, Any]) -> Reply:
    templates = server.simulator.set_templates(
        str(data.get("waba_id") or ""), data.get("templates")
    )
    return 200, {"templates": templates}


def _config_get(server: SimulatorServer, query: dict[str, str], data: dict[str, Any]) -> Reply:
    with server.simulator.lock:
        return 200, {"settings": dict(server.simulator.settings)}


def _config_set(server: SimulatorServer, query: dict[str, str], data: dict[str, Any]) -> Reply:
    return 200, {"settings": server.simulator.configure(data)}


def _reset(server: SimulatorServer, query: dict[str, str], data: dict[str, Any]) -> Reply:
    server.simulator.reset(everything=bool(data.get("everything")))
    return 200, {"ok": True}


def _clock(server: SimulatorServer, query: dict[str, str], data: dict[str, Any]) -> Reply:
    try:
        seconds = float(data.get("advance_seconds") or 0)
    except (TypeError, ValueError):
        raise ControlError("Invalid clock change.", {"advance_seconds": "A number."}) from None
    offset = server.simulator.advance_clock(seconds)
    return 200, {"offset_seconds": offset, "now": int(server.simulator.now())}


def _inbound(server: SimulatorServer, query: dict[str, str], data: dict[str, Any]) -> Reply:
    number, body, wamid = inbound.build_inbound(server.simulator, data)
    status = server.dispatcher.post(server.dispatcher.delivery(number, body, "message"))
    contact = body["entry"][0]["changes"][0]["value"]["contacts"][0]
    return 200, {
        "wamid": wamid,
        "delivered_status": status,
        "wa_id": contact.get("wa_id"),
        "user_id": contact.get("user_id"),
        "body": body,
    }


def _user_preferences(
    server: SimulatorServer, query: dict[str, str], data: dict[str, Any]
) -> Reply:
    number, body = inbound.build_user_preferences(server.simulator, data)
    status = server.dispatcher.post(server.dispatcher.delivery(number, body, "user_preferences"))
    return 200, {"delivered_status": status, "body": body}


def _calls(server: SimulatorServer, query: dict[str, str], data: dict[str, Any]) -> Reply:
    number, body, call_id = inbound.build_call(server.simulator, data)
    status = server.dispatcher.post(server.dispatcher.delivery(number, body, "calls"))
    return 200, {"call_id": call_id, "delivered_status": status, "body": body}


def _read(server: SimulatorServer, query: dict[str, str], data: dict[str, Any]) -> Reply:
    return 200, {"wamids": inbound.customer_reads(server.simulator, data, "read")}


def _deliver(server: SimulatorServer, query: dict[str, str], data: dict[str, Any]) -> Reply:
    return 200, {"wamids": inbound.customer_reads(server.simulator, data, "delivered")}


def _outbox(server: SimulatorServer, query: dict[str, str], data: dict[str, Any]) -> Reply:
    messages = server.simulator.list_outbox(query.get("phone_number_id"), query.get("to"))
    return 200, {"messages": messages}


def _conversation(server: SimulatorServer, query: dict[str, str], data: dict[str, Any]) -> Reply:
    return 200, server.simulator.conversation(query.get("phone_number_id"), query.get("wa_id"))


def _webhook_log(server: SimulatorServer, query: dict[str, str], data: dict[str, Any]) -> Reply:
    try:
        since = int(query.get("since") or 0)
    except ValueError:
        raise ControlError("Invalid since.", {"since": "A sequence number."}) from None
    bodies = query.get("bodies") in ("1", "true")
    return 200, {"entries": server.simulator.log_entries(bodies=bodies, since=since)}


def _raw_webhook(server: SimulatorServer, query: dict[str, str], data: dict[str, Any]) -> Reply:
    number = server.simulator.number(data.get("phone_number_id"))
    if "body" not in data:
        raise ControlError("What should be posted?", {"body": "Required (object or string)."})
    delivery = server.dispatcher.delivery(
        number,
        data["body"],
        "raw",
        sign=data.get("sign", True) is not False,
        signature_override=data.get("signature_override"),
        retry=False,
    )
    return 200, {"delivered_status": server.dispatcher.post(delivery)}


def _verify(server: SimulatorServer, query: dict[str, str], data: dict[str, Any]) -> Reply:
    """Meta's subscription handshake: GET the callback URL with hub.* and expect the challenge."""
    number = server.simulator.number(data.get("phone_number_id"))
    if not number["webhook_url"]:
        raise ControlError("The number has no webhook_url.", {"webhook_url": "Required."})
    challenge = str(data.get("challenge") or secrets.randbelow(10**10))
    params = {
        "hub.mode": "subscribe",
        "hub.challenge": challenge,
        "hub.verify_token": str(data.get("verify_token") or number["verify_token"]),
    }
    try:
        response = server.dispatcher.http.get(number["webhook_url"], params=params, timeout=10)
    except httpx.HTTPError as error:
        return 200, {"ok": False, "status": None, "error": type(error).__name__}
    ok = response.status_code == 200 and response.text == challenge
    return 200, {"ok": ok, "status": response.status_code, "body": response.text[:200]}


CONTROL_ROUTES: dict[
    tuple[str, str], Callable[[SimulatorServer, dict[str, str], dict[str, Any]], Reply]
] = {
    ("GET", "health"): _health,
    ("GET", "numbers"): _numbers_list,
    ("POST", "numbers"): _numbers_upsert,
    ("GET", "templates"): _templates_get,
    ("POST", "templates"): _templates_set,
    ("GET", "config"): _config_get,
    ("POST", "config"): _config_set,
    ("POST", "reset"): _reset,
    ("POST", "clock"): _clock,
    ("POST", "inbound"): _inbound,
    ("POST", "user_preferences"): _user_preferences,
    ("POST", "calls"): _calls,
    ("POST", "read"): _read,
    ("POST", "deliver"): _deliver,
    ("GET", "outbox"): _outbox,
    ("GET", "conversation"): _conversation,
    ("GET", "webhook-log"): _webhook_log,
    ("POST", "raw-webhook"): _raw_webhook,
    ("POST", "verify"): _verify,
}


def load_config(path: str | Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    config = json.loads(Path(path).read_text())
    if not isinstance(config, dict):
        raise ValueError(f"{path}: the config must be a JSON object")
    return config


@contextmanager
def running_simulator(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    config: dict[str, Any] | str | Path | None = None,
    **settings: Any,
) -> Iterator[SimulatorClient]:
    """Run a simulator in background threads for the duration of the block.

    `config` is a config dict or a JSON file path; `settings` are behaviour knobs
    (latency_ms=0, auto_read=True, ...). Yields a client whose `.base_url` is the server's.
    """
    loaded = dict(config) if isinstance(config, dict) else load_config(config)
    if settings:
        # Kept in the config so /_sim/reset comes back to them.
        loaded["settings"] = {**loaded.get("settings", {}), **settings}
    server = SimulatorServer((host, port), Simulator(loaded))
    server.start()
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="wa-simulator", daemon=True
    )
    thread.start()
    try:
        with SimulatorClient(server.base_url) as client:
            yield client
    finally:
        server.stop()
        thread.join(timeout=5)


def serve(*, host: str, port: int, config_path: str | None, settings: dict[str, Any]) -> None:
    """Run in the foreground until SIGINT/SIGTERM (what `make run` starts)."""
    config = load_config(config_path)
    if settings:
        config.setdefault("settings", {}).update(settings)
    server = SimulatorServer((host, port), Simulator(config), quiet=False)
    server.start()

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    numbers = len(server.simulator.numbers)
    print(
        f"WhatsApp Cloud API simulator on {server.base_url} ({numbers} number(s) configured); "
        f"customer page {server.base_url}/_sim/customer",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.dispatcher.stop()
