"""The real server (`manage.py serve` with TLS files) speaks TLS 1.3 and nothing older (P03)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from heroshhi.core.tests.certificates import issue_self_signed_certificate

pytestmark = pytest.mark.integration

AEAD_SUITES = {"TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"}
START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Server:
    port: int
    cert_file: Path

    def client_context(self, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        """A default verifying client that trusts the throwaway certificate."""
        context = ssl.create_default_context(cafile=self.cert_file)
        if maximum is not None:
            context.maximum_version = maximum
        return context


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"server did not listen within {START_TIMEOUT_SECONDS}s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("tls")
    cert_file, key_file = issue_self_signed_certificate(directory, ["localhost", "127.0.0.1"])
    port = _free_port()
    log = directory / "server.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": "2",
    }
    command = [
        sys.executable,
        "manage.py",
        "serve",
        "--bind",
        f"127.0.0.1:{port}",
        "--tls-cert",
        str(cert_file),
        "--tls-key",
        str(key_file),
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=settings.BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        _wait_until_listening(process, port, log)
        yield Server(port=port, cert_file=cert_file)
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_client_capped_at_tls_1_2_is_refused(server):
    context = server.client_context(maximum=ssl.TLSVersion.TLSv1_2)

    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        pytest.raises(ssl.SSLError) as refused,
    ):
        context.wrap_socket(raw, server_hostname="127.0.0.1")

    assert "PROTOCOL_VERSION" in str(refused.value).upper()


def test_a_default_client_gets_tls_1_3_and_a_healthy_answer_with_hsts(server):
    connection = http.client.HTTPSConnection(
        "127.0.0.1", server.port, context=server.client_context(), timeout=10
    )
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        body = response.read()
        assert isinstance(connection.sock, ssl.SSLSocket)
        version = connection.sock.version()
        suite = connection.sock.cipher()
    finally:
        connection.close()

    assert version == "TLSv1.3"
    assert suite is not None
    assert suite[0] in AEAD_SUITES
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("application/json")
    assert json.loads(body) == {"status": "ok"}
    assert "max-age=" in response.getheader("Strict-Transport-Security", "")


def test_the_server_header_names_no_software(server):
    connection = http.client.HTTPSConnection(
        "127.0.0.1", server.port, context=server.client_context(), timeout=10
    )
    try:
        for path in ("/healthz", "/no-such-page", "/static/css/app.css"):
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            assert response.getheader("Server") == "", path
    finally:
        connection.close()
