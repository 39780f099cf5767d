"""The real server (`manage.py serve` with TLS files) speaks TLS 1.3 and nothing older (P03)."""

from __future__ import annotations

import datetime
import http.client
import ipaddress
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
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import settings

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


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = directory / "server.crt"
    key_file = directory / "server.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return cert_file, key_file


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
    cert_file, key_file = _self_signed(directory)
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
