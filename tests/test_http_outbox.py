"""The outbox of localviyo's HTTP server (localviyo.http.outbox), on real TCP sockets and real loops.

What it is for: the answers written in one turn of the loop leave together at the start of the next, so
that a client waiting on many connections is woken once for them, not once per answer. What must hold
with it: nothing waits longer than that turn, nothing is lost when a connection closes, and an app
streaming to a slow reader still waits for it (backpressure) rather than piling the body up in memory.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from loops import LOOPS

from localviyo.http.outbox import HIGH_WATER
from localviyo.http.protocol import Connection
from localviyo.http.state import ServerState

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """(the server's end, the client's end) of one loopback TCP connection."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    client.setblocking(False)
    server.setblocking(False)  # asyncio's loop sets this itself; uvloop's expects it
    return server, client


def received(sock: socket.socket) -> bytes:
    """What has arrived on the non-blocking `sock` so far (b"" for nothing yet)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


App = Callable[..., Awaitable[None]]
Serve = Callable[[App, ServerState, socket.socket], Awaitable[Connection]]


def run(make_loop: Callable[[], asyncio.AbstractEventLoop], main: Callable[[Serve], Awaitable[None]]) -> None:
    """`main(serve)` on a new loop; `serve(app, state, sock)` makes a Connection on the server's end of
    a socket. Every connection served is closed before the loop is (uvloop's close waits for them)."""
    loop = make_loop()
    served: list[Connection] = []

    async def serve(app: App, state: ServerState, sock: socket.socket) -> Connection:
        make = lambda: Connection(app, state)  # noqa: E731
        _transport, connection = await asyncio.get_running_loop().connect_accepted_socket(make, sock)
        served.append(connection)
        return connection

    try:
        loop.run_until_complete(main(serve))
    finally:
        for connection in served:
            connection.close()
        loop.run_until_complete(asyncio.sleep(0.05))
        loop.close()


@pytest.mark.parametrize("loop", LOOPS)
def test_answers_of_a_turn_leave_together_at_the_start_of_the_next(loop: str) -> None:
    """Two connections answered in one turn: neither answer has left when the turn's work ends, and both
    have arrived by the time the next turn runs anything else."""
    pairs = [tcp_pair(), tcp_pair()]
    seen: dict[str, Any] = {}
    answered = 0

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal answered
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})
        answered += 1
        if answered == len(pairs):  # the last answer of the turn: what has left so far?
            seen["within the turn"] = [received(client) for _server, client in pairs]
            await asyncio.sleep(0)  # the rest of this task runs in the next turn, after the outbox
            seen["next turn"] = [received(client) for _server, client in pairs]

    async def main(serve: Serve) -> None:
        state = ServerState()
        for server, _client in pairs:
            await serve(app, state, server)
        for _server, client in pairs:  # both requests arrive before the loop next looks
            client.sendall(GET)
        for _ in range(500):
            if "next turn" in seen:
                break
            await asyncio.sleep(0.01)

    try:
        run(LOOPS[loop], main)
    finally:
        for server, client in pairs:
            server.close()
            client.close()
    assert seen["within the turn"] == [b"", b""]
    assert all(answer.startswith(b"HTTP/1.1 200 OK\r\n") for answer in seen["next turn"])
    assert all(answer.endswith(b"\r\n\r\nok") for answer in seen["next turn"])


@pytest.mark.parametrize("loop", LOOPS)
def test_closing_sends_what_waits_first(loop: str) -> None:
    """An answer that closes its connection arrives whole before the end of the stream."""
    server, client = tcp_pair()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-length", b"5"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"bye!\n"})

    async def main(serve: Serve) -> None:
        connection = await serve(app, ServerState(), server)
        client.sendall(GET)
        for _ in range(500):
            if connection.closed:
                break
            await asyncio.sleep(0.01)
        assert connection.closed

    try:
        run(LOOPS[loop], main)
        client.setblocking(True)
        client.settimeout(5)
        data = b""
        while chunk := client.recv(65536):
            data += chunk
    finally:
        server.close()
        client.close()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nconnection: close\r\n" in data
    assert data.endswith(b"\r\n\r\nbye!\n")


@pytest.mark.parametrize("loop", LOOPS)
def test_a_slow_reader_still_holds_back_an_app_that_streams(loop: str) -> None:
    """An app sending 32 MB to a client that reads nothing waits in `send` once the socket's buffers are
    full, instead of piling the body up unsent; when the client reads, the whole body arrives."""
    server, client = tcp_pair()
    chunk = b"x" * HIGH_WATER
    chunks = 512  # 32 MB: far more than the kernel's socket buffers hold
    sent = 0

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal sent
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"x/y")]})
        for _ in range(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            sent += 1
        await send({"type": "http.response.body", "body": b""})

    async def main(serve: Serve) -> None:
        connection = await serve(app, ServerState(), server)
        client.sendall(GET)
        await asyncio.sleep(0.3)
        held_back = sent
        assert held_back < chunks // 2, f"the app sent {held_back} of {chunks} chunks to a client reading none"
        assert connection.unsent_size <= HIGH_WATER
        body = bytearray()
        loop = asyncio.get_running_loop()
        while not body.endswith(b"\r\n0\r\n\r\n"):
            body += await loop.sock_recv(client, 1 << 20)
        assert sent == chunks
        assert body.count(chunk) == chunks

    try:
        run(LOOPS[loop], main)
    finally:
        server.close()
        client.close()
