"""The web server's own limit answers (ADR 0016): granian refuses an over-long request
target or header block before the app runs, with a status and an empty body."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from django.conf import settings

from heroshhi.core.tests.test_tls_serving import (
    STOP_TIMEOUT_SECONDS,
    _free_port,
    _wait_until_listening,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def port(tmp_path_factory) -> Iterator[int]:
    log = tmp_path_factory.mktemp("limits") / "server.log"
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": "1",
    }
    command = [sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{port}"]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=settings.BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        _wait_until_listening(process, port, log)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _head_of_answer(port: int, request: bytes) -> tuple[str, dict[str, str]]:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as connection:
        connection.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    status, *lines = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return status, {name.lower(): value for name, value in headers.items()}


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", "414"),
        (
            b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
            + b"".join(b"X-Field-%d: a\r\n" % n for n in range(200))
            + b"\r\n",
            "431",
        ),
        (
            b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 600_000 + b"\r\n\r\n",
            "431",
        ),
    ],
    ids=["long-target", "many-headers", "big-header"],
)
def test_a_request_over_the_server_limits_gets_a_bare_status(port, request_bytes, status):
    line, headers = _head_of_answer(port, request_bytes)
    assert line.split(" ")[1] == status
    assert headers["content-length"] == "0"
    assert headers["connection"] == "close"
    assert "server" not in headers


def test_idle_keep_alive_connections_do_not_hold_back_new_ones(port: int) -> None:
    """A browser keeps its connection open after a page; with more such idle connections than
    the server has threads, a new visitor must still be answered (found by bench/soak.py)."""
    idle = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(4)]
    try:
        for connection in idle:
            connection.request("GET", "/healthz")
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 200
            assert not answer.will_close  # kept alive, and now idle
        newcomer = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        newcomer.request("GET", "/healthz")
        assert newcomer.getresponse().status == 200
        newcomer.close()
    finally:
        for connection in idle:
            connection.close()
