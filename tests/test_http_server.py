"""localviyo's HTTP server (localviyo.http) on a real socket, byte for byte: what HTTP/1.1 asks of it.

The rest of the suite runs every API test through this server too (ServerThread and `localviyo serve`);
these tests hold the HTTP edges that the API tests don't reach: pipelining, chunked bodies both ways,
`Expect: 100-continue`, HTTP/1.0, early answers, parse errors, failing apps, idle and graceful closing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from localviyo.http import Server

App = Callable[..., Any]


class Running:
    def __init__(self, app: App, **options: Any) -> None:
        self.server = Server(app, "127.0.0.1", 0, **options)
        self.thread = threading.Thread(target=self.server.run, kwargs={"handle_signals": False}, daemon=True)

    def __enter__(self) -> Running:
        self.thread.start()
        for _ in range(2000):
            if self.server.started or not self.thread.is_alive():
                break
            threading.Event().wait(0.005)
        assert self.server.started
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.request_stop()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive()

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """One response from `sock` (Content-Length or chunked), leaving what follows in `buffer`."""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        assert data, f"connection closed before a response: {bytes(buffer)!r}"
        buffer += data
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = {name.lower(): value for name, _, value in (line.partition(b": ") for line in lines)}
    buffer[:] = rest
    if b"content-length" in headers:
        size = int(headers[b"content-length"])
        if status.startswith(b"HTTP/1.1 1") or b"HEAD" in headers.get(b"x-method", b""):
            size = 0
        while len(buffer) < size:
            buffer += sock.recv(65536)
        body = bytes(buffer[:size])
        del buffer[:size]
        return status, headers, body
    if headers.get(b"transfer-encoding") == b"chunked":
        body = b""
        while True:
            while b"\r\n" not in buffer:
                buffer += sock.recv(65536)
            line, _, _ = bytes(buffer).partition(b"\r\n")
            size = int(line, 16)
            while len(buffer) < len(line) + 2 + size + 2:
                buffer += sock.recv(65536)
            body += bytes(buffer[len(line) + 2 : len(line) + 2 + size])
            del buffer[: len(line) + 2 + size + 2]
            if size == 0:
                return status, headers, body
    return status, headers, b""


def closed(sock: socket.socket) -> bool:
    """The server closed the connection (it waits for that, up to the socket's timeout)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with the method, path, scheme and the body it read; `/slow` answers after a turn or two."""
    if scope["type"] != "http":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if scope["path"] == "/slow":
        await asyncio.sleep(0.05)
    text = f"{scope['method']} {scope['path']} {scope['scheme']} {len(body)} ".encode() + body
    headers = [(b"content-length", str(len(text)).encode()), (b"x-method", scope["method"].encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": text})


@pytest.fixture
def server() -> Iterator[Running]:
    with Running(echo) as running:
        yield running


def test_keep_alive_answers_each_request_on_one_connection(server: Running) -> None:
    with server.connect() as sock:
        buffer = bytearray()
        for path in ("/a", "/b"):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            status, headers, body = read_response(sock, buffer)
            assert status == b"HTTP/1.1 200 OK"
            assert body == f"GET {path} http 0 ".encode()
            assert b"connection" not in headers
            assert re.fullmatch(rb"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", headers[b"date"])


def test_pipelined_requests_are_answered_in_order(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        buffer = bytearray()
        first, second = read_response(sock, buffer)[2], read_response(sock, buffer)[2]
    assert (first, second) == (b"GET /slow http 0 ", b"GET /fast http 0 ")


def test_http_1_0_closes_after_the_answer(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /old HTTP/1.0\r\n\r\n")
        status, headers, body = read_response(sock, bytearray())
        assert (status, headers[b"connection"], body) == (b"HTTP/1.1 200 OK", b"close", b"GET /old http 0 ")
        assert closed(sock)


def test_connection_close_is_honoured(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert read_response(sock, bytearray())[1][b"connection"] == b"close"
        assert closed(sock)


def test_a_client_that_half_closes_still_gets_its_answer(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /last HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        buffer = bytearray()
        assert read_response(sock, buffer)[2] == b"GET /slow http 0 "
        assert read_response(sock, buffer)[2] == b"GET /last http 0 "
        assert closed(sock)


def test_chunked_request_body_is_read_whole(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        sock.sendall(b"6\r\n world\r\n0\r\n\r\n")
        assert read_response(sock, bytearray())[2] == b"POST /c http 11 hello world"


def test_expect_100_continue_is_answered_before_the_body(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        buffer = bytearray()
        assert read_response(sock, buffer)[0] == b"HTTP/1.1 100 Continue"
        sock.sendall(b"ping")
        assert read_response(sock, buffer)[2] == b"POST /e http 4 ping"


def test_head_answers_carry_no_body(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        buffer = bytearray()
        status, headers, body = read_response(sock, buffer)
        assert (status, headers[b"content-length"], body) == (b"HTTP/1.1 200 OK", b"15", b"")
        assert read_response(sock, buffer)[2] == b"GET /after http 0 "  # nothing of HEAD's body came between


def test_percent_encoded_path_is_decoded_and_raw_path_kept() -> None:
    seen: list[tuple[str, bytes, bytes]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append((scope["path"], scope["raw_path"], scope["query_string"]))
        await echo(scope, receive, send)

    with Running(app) as running, running.connect() as sock:
        sock.sendall(b"GET /a%20b/?filter=equals(email,%22x%22) HTTP/1.1\r\nHost: x\r\n\r\n")
        read_response(sock, bytearray())
    assert seen == [("/a b/", b"/a%20b/", b"filter=equals(email,%22x%22)")]


def test_x_forwarded_proto_from_a_local_proxy_sets_the_scheme(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /p HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\n\r\n")
        assert read_response(sock, bytearray())[2] == b"GET /p https 0 "


def test_unparseable_request_gets_a_plain_400_and_the_connection_ends(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        status, headers, body = read_response(sock, bytearray())
        assert status == b"HTTP/1.1 400 Bad Request"
        assert headers[b"content-type"] == b"text/plain; charset=utf-8"
        assert body == b"Invalid HTTP request received."
        assert closed(sock)


@pytest.mark.parametrize("target", [b"/caf\xc3\xa9", b"/a b\x7f", b"http://[::1"], ids=["utf-8", "control", "url"])
def test_a_target_the_server_cannot_read_gets_the_plain_400_and_logs_nothing(
    server: Running, target: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="localviyo"), server.connect() as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = read_response(sock, bytearray())
        assert (status, body) == (b"HTTP/1.1 400 Bad Request", b"Invalid HTTP request received.")
        assert closed(sock)
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []


def test_a_body_answered_unread_is_discarded_and_the_connection_goes_on() -> None:
    async def early(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    with Running(early) as running, running.connect() as sock:
        sock.sendall(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n")
        buffer = bytearray()
        assert read_response(sock, buffer)[0] == b"HTTP/1.1 413 Request Entity Too Large"
        sock.sendall(b"x" * 200000 + b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock, buffer)[0] == b"HTTP/1.1 413 Request Entity Too Large"


def test_a_response_without_length_is_sent_chunked_and_large_ones_arrive_whole() -> None:
    piece = bytes(range(256)) * 4096  # 1 MB, sent four times

    async def stream(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"x/y")]})
        for _ in range(4):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    with Running(stream) as running, running.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        _status, headers, body = read_response(sock, bytearray())
    assert headers[b"transfer-encoding"] == b"chunked"
    assert body == piece * 4


@pytest.mark.parametrize("when", ["before", "after"])
def test_an_app_that_fails_gets_a_500_or_a_closed_connection(when: str) -> None:
    async def failing(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if when == "after":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]})
        raise RuntimeError("boom")

    with Running(failing) as running, running.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        if when == "before":
            status, _headers, body = read_response(sock, bytearray())
            assert (status, body) == (b"HTTP/1.1 500 Internal Server Error", b"Internal Server Error")
        assert closed(sock)


@pytest.mark.parametrize(
    "header",
    [
        (b"x-note", b"one\r\nset-cookie: injected=1"),
        (b"x-note", b"one\nset-cookie: injected=1"),
        (b"x-note", b"one\rtwo"),
        (b"x-note\r\nset-cookie", b"injected=1"),
    ],
)
def test_a_header_holding_a_line_break_is_never_sent(header: tuple[bytes, bytes]) -> None:
    """No response splitting: such a header makes the answer a 500, with nothing of it on the wire."""

    async def splitting(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-length", b"2"), header]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    with Running(splitting) as running, running.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = read_response(sock, bytearray())
        assert (status, body) == (b"HTTP/1.1 500 Internal Server Error", b"Internal Server Error")
        assert b"set-cookie" not in headers and b"x-note" not in headers
        assert closed(sock)


def test_idle_keep_alive_connections_are_closed_after_the_timeout() -> None:
    with Running(echo, keep_alive_timeout=0.2) as running, running.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        read_response(sock, bytearray())
        assert closed(sock)  # blocks until the server's sweep closes it (the socket's timeout is 10 s)


def test_stopping_lets_the_answer_in_progress_finish() -> None:
    entered, release = threading.Event(), asyncio.Event()

    async def held(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        entered.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
        await send({"type": "http.response.body", "body": b"done"})

    running = Running(held)
    with running, running.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert entered.wait(10)
        running.server.request_stop()
        loop = running.server._loop
        assert loop is not None
        loop.call_soon_threadsafe(release.set)
        status, headers, body = read_response(sock, bytearray())
        assert (status, body) == (b"HTTP/1.1 200 OK", b"done")
        assert headers[b"connection"] == b"close"
        assert closed(sock)
