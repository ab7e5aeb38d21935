"""Clients that hold connections by sending slowly, against a real `impasto serve` on 127.0.0.1 (200
connections at most, a few seconds each): their requests time out with a 408 and the connection is
closed, while other clients are answered; a chunked body is refused whatever the case of its header."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from impasto.web.uploads import BodyLimit

from .conftest import Server

SLOW = 200
"""Connections that never finish their headers."""
TIMEOUT = 2.0
"""The server's --header-timeout and --body-timeout in these tests."""


@pytest.fixture(scope="module")
def strict(tmp_path_factory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("slow") / "data", "--header-timeout", str(TIMEOUT), "--body-timeout",
                    str(TIMEOUT), "--max-upload-mb", "0.01", "--max-video-mb", "0.01")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT + 10)


def closed_by_the_server(sock: socket.socket) -> bytes | None:
    """What the server sent before it closed the connection; None if it is still open."""
    sock.setblocking(False)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except BlockingIOError:
        return None
    except ConnectionResetError:
        pass
    return received


def test_connections_that_never_finish_their_headers_are_closed_and_others_still_answered(strict) -> None:
    with contextlib.ExitStack() as stack:
        slow = []
        for number in range(SLOW):
            sock = stack.enter_context(connect(strict))
            sock.sendall(b"GET /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
            slow.append(sock)
            if number % 50 == 0:
                slow[0].sendall(b"X-Slow: 1\r\n")  # a byte now and then does not keep it open
        started = time.monotonic()
        answered = httpx.get(f"{strict.url}/api/options", timeout=5)
        assert answered.status_code == 200, "the server answers others meanwhile"
        time.sleep(TIMEOUT + 1.5)
        left = [sock for sock in slow if closed_by_the_server(sock) is None]
        assert not left, f"{len(left)} of {SLOW} slow connections still open after {time.monotonic() - started:.1f} s"
    fresh = connect(strict)
    fresh.sendall(b"GET /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    time.sleep(TIMEOUT + 1)
    assert closed_by_the_server(fresh).startswith(b"HTTP/1.1 408 ")


def test_a_body_that_never_arrives_times_out(strict) -> None:
    sock = connect(strict)
    sock.sendall(b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                 b"Content-Length: 5000\r\n\r\n--x\r\n")
    time.sleep(TIMEOUT + 1.5)
    answer = closed_by_the_server(sock)
    assert answer is not None and answer.startswith(b"HTTP/1.1 408 "), answer
    assert "Traceback" not in strict.log.read_text()


@pytest.mark.parametrize("header", [b"chunked", b"Chunked", b"CHUNKED"])
def test_a_chunked_body_is_refused_whatever_the_case_of_its_header(strict, header) -> None:
    sock = connect(strict)
    chunk = b"x" * 4096
    sock.sendall(b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: " + header + b"\r\n"
                 b"Content-Type: multipart/form-data; boundary=x\r\n\r\n" + (b"1000\r\n" + chunk + b"\r\n") * 8)
    sock.settimeout(10)
    answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 411 "), answer[:200]
    sock.close()


@pytest.mark.parametrize("header", [b"chunked", b"Chunked", b"gzip, CHUNKED"])
def test_the_body_limit_reads_transfer_encoding_in_any_case(header) -> None:
    """As httptools hands the header on (h11 lowercases it itself)."""
    sent: list[dict] = []

    async def app(scope, receive, send) -> None:
        raise AssertionError("the app is never reached")

    async def send(message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "headers": [(b"transfer-encoding", header)]}
    asyncio.run(BodyLimit(app, max_bytes=1000)(scope, None, send))
    assert sent[0]["status"] == 411
