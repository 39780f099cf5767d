"""The egress client: allow-list on every hop, https only, TLS 1.3 against real local servers."""

from __future__ import annotations

import http.server
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from heroshhi.core import egress
from heroshhi.core.egress import EgressDenied, egress_client
from heroshhi.core.tests.certificates import issue_self_signed_certificate


class FakeNetwork:
    """Stands in for the network: records what reaches it and answers 200 unless scripted."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.routes: dict[str, httpx.Response] = {}

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.routes.get(str(request.url), httpx.Response(200, text="ok"))


@pytest.fixture
def network(monkeypatch) -> FakeNetwork:
    fake = FakeNetwork()
    monkeypatch.setattr(egress, "_network_transport", lambda: httpx.MockTransport(fake.handle))
    return fake


@pytest.fixture
def policy(settings):
    settings.EGRESS_ALLOWED_HOSTS = ["graph.facebook.com", "*.example.com"]
    settings.EGRESS_LOOPBACK_HTTP = False
    return settings


def test_it_refuses_a_host_off_the_list_before_anything_is_sent(policy, network):
    with egress_client(purpose="test") as client, pytest.raises(EgressDenied) as denied:
        client.post(
            "https://collector.invalid/upload?access_token=s3cret", content=b"+919800000000"
        )

    assert network.requests == []
    message = str(denied.value)
    assert "collector.invalid" in message
    assert "s3cret" not in message
    assert "upload" not in message
    assert "9800000000" not in message


def test_it_lets_https_to_an_allowed_host_through(policy, network):
    with egress_client(purpose="test") as client:
        response = client.get("https://graph.facebook.com/v23.0/me")

    assert response.status_code == 200
    assert [request.url.host for request in network.requests] == ["graph.facebook.com"]


@pytest.mark.parametrize("host", ["api.example.com", "a.b.example.com", "API.Example.COM"])
def test_a_wildcard_entry_allows_subdomains(policy, network, host):
    with egress_client(purpose="test") as client:
        assert client.get(f"https://{host}/").status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "badexample.com",
        "example.com.attacker.net",
        "graph.facebook.com.attacker.net",
        "facebook.com",
        "graph.facebook.com.",
    ],
)
def test_lookalike_hosts_are_refused(policy, network, host):
    with egress_client(purpose="test") as client, pytest.raises(EgressDenied):
        client.get(f"https://{host}/")
    assert network.requests == []


@pytest.mark.parametrize("loopback_http", [True, False])
def test_plain_http_to_an_allowed_host_is_refused(policy, network, loopback_http):
    policy.EGRESS_LOOPBACK_HTTP = loopback_http
    with egress_client(purpose="test") as client, pytest.raises(EgressDenied, match="https"):
        client.get("http://graph.facebook.com/v23.0/me")
    assert network.requests == []


LOOPBACK_URLS = [
    "http://127.0.0.1:8765/v23.0/messages",
    "http://127.9.9.9/",
    "http://localhost:8765/",
    "http://[::1]:8765/",
]


@pytest.mark.parametrize("url", LOOPBACK_URLS)
def test_plain_http_to_loopback_is_allowed_when_the_simulator_switch_is_on(policy, network, url):
    policy.EGRESS_LOOPBACK_HTTP = True
    with egress_client(purpose="test") as client:
        assert client.get(url).status_code == 200
    assert len(network.requests) == 1


@pytest.mark.parametrize("url", LOOPBACK_URLS)
def test_plain_http_to_loopback_is_refused_when_the_switch_is_off(policy, network, url):
    with egress_client(purpose="test") as client, pytest.raises(EgressDenied):
        client.get(url)
    assert network.requests == []


@pytest.mark.parametrize("url", ["http://10.0.0.5/", "http://127.1/", "http://0.0.0.0/"])
def test_the_simulator_switch_opens_loopback_only(policy, network, url):
    policy.EGRESS_LOOPBACK_HTTP = True
    with egress_client(purpose="test") as client, pytest.raises(EgressDenied):
        client.get(url)
    assert network.requests == []


@pytest.mark.parametrize(
    "target", ["https://collector.invalid/steal", "https://api.example.com/elsewhere"]
)
def test_a_redirect_to_another_host_is_refused(policy, network, target):
    start = "https://graph.facebook.com/v23.0/media"
    network.routes[start] = httpx.Response(302, headers={"Location": target})

    with egress_client(purpose="test") as client, pytest.raises(EgressDenied):
        client.get(start, follow_redirects=True)

    assert [str(request.url) for request in network.requests] == [start]


def test_a_same_host_redirect_is_followed(policy, network):
    start = "https://graph.facebook.com/old"
    network.routes[start] = httpx.Response(301, headers={"Location": "/new"})

    with egress_client(purpose="test") as client:
        response = client.get(start, follow_redirects=True)

    assert response.status_code == 200
    assert [request.url.path for request in network.requests] == ["/old", "/new"]


def test_a_redirect_down_to_plain_http_is_refused(policy, network):
    start = "https://graph.facebook.com/old"
    network.routes[start] = httpx.Response(302, headers={"Location": "http://graph.facebook.com/"})

    with egress_client(purpose="test") as client, pytest.raises(EgressDenied):
        client.get(start, follow_redirects=True)

    assert len(network.requests) == 1


def test_the_default_timeout_comes_from_settings(policy, network):
    policy.EGRESS_TIMEOUT_SECONDS = 7
    with egress_client(purpose="test") as client, egress_client(purpose="t", timeout=2) as short:
        assert client.timeout == httpx.Timeout(7)
        assert short.timeout == httpx.Timeout(2)


@pytest.mark.parametrize("purpose", ["", "Lead 42", "send/+919800000000", "x" * 80])
def test_a_purpose_must_be_a_fixed_label(purpose):
    with pytest.raises(ValueError, match="purpose"):
        egress_client(purpose=purpose)


SECRET_URL = "https://graph.facebook.com/v23.0/1/messages?access_token=s3cret"


def test_it_logs_host_method_and_status_but_never_the_url(policy, network, caplog):
    caplog.set_level(logging.DEBUG, logger="heroshhi.core.egress")
    with egress_client(purpose="whatsapp.send") as client:
        client.post(SECRET_URL, json={"to": "+919800000000"})

    (record,) = [r for r in caplog.records if r.name == "heroshhi.core.egress"]
    line = record.getMessage()
    assert "host=graph.facebook.com" in line
    assert "method=POST" in line
    assert "status=200" in line
    assert "purpose=whatsapp.send" in line
    for leak in ("s3cret", "messages", "9800000000"):
        assert leak not in line


def test_no_log_line_carries_an_outbound_url(policy, network, caplog):
    # Project log levels as configured (caplog only listens); httpx's own INFO line must not
    # pass them, since it prints the whole URL, query string and all.
    with egress_client(purpose="whatsapp.send") as client:
        client.post(SECRET_URL, json={})

    assert not [r for r in caplog.records if "s3cret" in r.getMessage()]


def test_the_shared_context_verifies_and_requires_tls_1_3():
    context = egress.tls_client_context()

    assert context is egress.tls_client_context()
    assert context.minimum_version is ssl.TLSVersion.TLSv1_3
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True


# --- real TLS servers on loopback -----------------------------------------------------


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello over tls"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean


StartServer = Callable[..., int]


@pytest.fixture
def tls_server() -> Iterator[StartServer]:
    """Starts HTTPS servers on 127.0.0.1 and returns their ports; all stop after the test."""
    servers: list[tuple[http.server.HTTPServer, threading.Thread]] = []

    def start(*, cert_file: Path, key_file: Path, maximum: ssl.TLSVersion | None = None) -> int:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        if maximum is not None:
            context.maximum_version = maximum
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return server.server_address[1]

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def certificate(tmp_path) -> tuple[Path, Path]:
    return issue_self_signed_certificate(tmp_path, ["localhost", "127.0.0.1"])


@pytest.fixture
def trusting(monkeypatch, settings, certificate):
    """The egress policy for https to 127.0.0.1, trusting only the test certificate.

    The context comes from the same builder as production; only the trust store differs.
    """
    settings.EGRESS_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    settings.EGRESS_LOOPBACK_HTTP = False
    ca_file = str(certificate[0])
    monkeypatch.setattr(
        egress, "tls_client_context", lambda: egress.build_tls_client_context(cafile=ca_file)
    )


def _ssl_error_in(exc: BaseException | None) -> ssl.SSLError | None:
    while exc is not None:
        if isinstance(exc, ssl.SSLError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _handshake(port: int, context: ssl.SSLContext) -> str | None:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return tls.version()


def test_it_refuses_a_server_that_stops_at_tls_1_2(tls_server, certificate, trusting):
    port = tls_server(
        cert_file=certificate[0], key_file=certificate[1], maximum=ssl.TLSVersion.TLSv1_2
    )
    # The server itself works: an ordinary client that accepts 1.2 gets through.
    assert _handshake(port, ssl.create_default_context(cafile=certificate[0])) == "TLSv1.2"

    with egress_client(purpose="test") as client, pytest.raises(httpx.ConnectError) as failed:
        client.get(f"https://127.0.0.1:{port}/")

    reason = _ssl_error_in(failed.value)
    assert reason is not None
    assert "PROTOCOL_VERSION" in str(reason).upper()


def test_it_talks_to_a_tls_1_3_server(tls_server, certificate, trusting):
    port = tls_server(cert_file=certificate[0], key_file=certificate[1])

    with egress_client(purpose="test") as client:
        response = client.get(f"https://127.0.0.1:{port}/")

    assert response.status_code == 200
    assert response.text == "hello over tls"


def test_it_refuses_a_certificate_it_does_not_trust(tls_server, certificate, settings):
    # No trust seam here: the shared production context must reject a self-signed server.
    settings.EGRESS_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.EGRESS_LOOPBACK_HTTP = False
    port = tls_server(cert_file=certificate[0], key_file=certificate[1])

    with egress_client(purpose="test") as client, pytest.raises(httpx.ConnectError) as failed:
        client.get(f"https://127.0.0.1:{port}/")

    assert isinstance(_ssl_error_in(failed.value), ssl.SSLCertVerificationError)


def test_it_refuses_a_certificate_for_another_name(tls_server, tmp_path, monkeypatch, settings):
    cert_file, key_file = issue_self_signed_certificate(tmp_path, ["localhost"])
    settings.EGRESS_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.EGRESS_LOOPBACK_HTTP = False
    monkeypatch.setattr(
        egress,
        "tls_client_context",
        lambda: egress.build_tls_client_context(cafile=str(cert_file)),
    )
    port = tls_server(cert_file=cert_file, key_file=key_file)

    with egress_client(purpose="test") as client, pytest.raises(httpx.ConnectError) as failed:
        client.get(f"https://127.0.0.1:{port}/")

    assert isinstance(_ssl_error_in(failed.value), ssl.SSLCertVerificationError)
