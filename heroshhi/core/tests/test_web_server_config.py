"""config/granian.py: the web server's settings come from the same environment as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from granian.constants import Interfaces, SSLProtocols

from config import granian as web
from heroshhi.core.tests.certificates import issue_self_signed_certificate


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in (
        "HEROSHHI_BIND",
        "PORT",
        "WEB_CONCURRENCY",
        "WEB_THREADS",
        "HEROSHHI_TLS_CERT_FILE",
        "HEROSHHI_TLS_KEY_FILE",
        "HEROSHHI_ACCESS_LOG",
        "LOG_LEVEL",
    ):
        monkeypatch.delenv(name, raising=False)


def test_the_defaults_are_two_processes_of_four_threads_on_loopback():
    server = web.server()
    assert (server.bind_addr, server.bind_port) == ("127.0.0.1", 8000)
    assert server.interface == Interfaces.WSGI
    assert (server.workers, server.blocking_threads) == (2, 4)
    # Backpressure counts open connections, idle keep-alive ones too: far above the threads.
    assert server.backpressure >= 64 * server.blocking_threads
    assert server.ssl_ctx[0] is False
    assert server.log_access is False


def test_bind_processes_threads_and_access_log_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("HEROSHHI_BIND", "[::1]:9443")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("WEB_THREADS", "6")
    monkeypatch.setenv("HEROSHHI_ACCESS_LOG", "true")

    server = web.server()

    assert (server.bind_addr, server.bind_port) == ("::1", 9443)
    assert (server.workers, server.blocking_threads) == (3, 6)
    assert server.backpressure >= 32 * server.blocking_threads
    assert server.log_access is True
    assert "query" not in web.ACCESS_LOG_FORMAT
    assert "addr" not in web.ACCESS_LOG_FORMAT


def test_tls_files_mean_tls_1_3_only(monkeypatch, tmp_path: Path):
    # test_tls_serving.py checks the handshakes against a running server.
    cert, key = issue_self_signed_certificate(tmp_path, ["localhost"])
    monkeypatch.setenv("HEROSHHI_TLS_CERT_FILE", str(cert))
    monkeypatch.setenv("HEROSHHI_TLS_KEY_FILE", str(key))

    enabled, cert_file, key_file, _password, minimum, *_ = web.server().ssl_ctx

    assert enabled is True
    assert (cert_file, key_file) == (str(cert.resolve()), str(key.resolve()))
    assert minimum == SSLProtocols.tls13.value


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("WEB_CONCURRENCY", "0", "WEB_CONCURRENCY"),
        ("WEB_THREADS", "many", "WEB_THREADS"),
        ("HEROSHHI_BIND", "no-port", "HEROSHHI_BIND"),
        ("HEROSHHI_TLS_CERT_FILE", "/only/the/cert.pem", "HEROSHHI_TLS_KEY_FILE"),
        ("HEROSHHI_ACCESS_LOG", "sometimes", "HEROSHHI_ACCESS_LOG"),
    ],
)
def test_a_bad_value_stops_the_start_naming_the_variable(monkeypatch, name, value, named):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=named):
        web.server()
