"""The listening socket of localviyo's HTTP server (localviyo.http.listener), on real sockets and real loops.

What it is for: every connection waiting on the socket is taken when the loop sees it readable, not one
per turn of the loop (as uvloop's `create_server` does), so that 32 clients connecting at once to a busy
server do not wait 32 turns for their first answer.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable, Coroutine
from typing import Any, cast

import pytest
from loops import LOOPS

from localviyo.http.listener import Listener, bind


def run(make_loop: Callable[[], asyncio.AbstractEventLoop], main: Coroutine[Any, Any, None]) -> None:
    loop = make_loop()
    try:
        loop.run_until_complete(main)
    finally:
        loop.close()


class Made(asyncio.Protocol):
    """Records each connection it is given, and answers one line to say it has it."""

    transports: list[asyncio.Transport]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream = cast(asyncio.Transport, transport)  # uvloop's is not a subclass of asyncio's
        self.transports.append(stream)
        stream.write(b"hello\n")


def protocol_recording(into: list[asyncio.Transport]) -> Callable[[], Made]:
    def make() -> Made:
        protocol = Made()
        protocol.transports = into
        return protocol

    return make


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


class Listening:
    """A Listener on `sock` (a fresh one by default), `clients` connected to it, all closed on exit."""

    def __init__(self, clients: int, sock: socket.socket | None = None, **options: Any) -> None:
        self.sock = sock if sock is not None else bind("127.0.0.1", 0)
        self.made: list[asyncio.Transport] = []
        self.listener = Listener(asyncio.get_running_loop(), self.sock, protocol_recording(self.made), **options)
        # The kernel completes each handshake itself: every client waits in the socket's queue.
        self.clients = [socket.create_connection(self.sock.getsockname()[:2], timeout=5) for _ in range(clients)]

    def __enter__(self) -> Listening:
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self.clients:
            client.close()
        for transport in self.made:
            transport.close()
        self.listener.close()


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_every_waiting_connection_is_taken_at_once(loop_name: str) -> None:
    async def main() -> None:
        with Listening(20) as listening:
            listening.sock.setblocking(False)
            assert listening.listener.accept_waiting() == 20
            assert listening.listener.accept_waiting() == 0
            await until(lambda: len(listening.made) == 20)
            for client in listening.clients:
                assert client.recv(6) == b"hello\n"
            for transport in listening.made:
                assert transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)

    run(LOOPS[loop_name], main())


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_no_more_than_a_batch_is_taken_in_one_turn(loop_name: str) -> None:
    async def main() -> None:
        with Listening(5, batch=3) as listening:
            listening.sock.setblocking(False)
            assert [listening.listener.accept_waiting() for _ in range(3)] == [3, 2, 0]
            await until(lambda: len(listening.made) == 5)

    run(LOOPS[loop_name], main())


class OutOfDescriptors(socket.socket):
    """A real listening socket whose first accept fails as it does when the process has no descriptor left."""

    failures = 1

    def accept(self) -> tuple[socket.socket, Any]:
        if self.failures:
            self.failures -= 1
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_running_out_of_descriptors_pauses_accepting_then_serves_on(
    loop_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        sock = OutOfDescriptors(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        with Listening(1, sock, retry_after=0.05) as listening:
            await listening.listener.start()
            await until(lambda: len(listening.made) == 1)  # refused once, taken on the retry, not lost
            assert listening.clients[0].recv(6) == b"hello\n"
            assert "cannot accept connections" in caplog.text
            assert sock.failures == 0

    run(LOOPS[loop_name], main())


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_closing_stops_accepting(loop_name: str) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        sock = bind("127.0.0.1", 0)
        address = sock.getsockname()[:2]
        listener = Listener(loop, sock, protocol_recording([]))
        await listener.start()
        listener.close()
        assert sock.fileno() == -1
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(address, timeout=5).close()

    run(LOOPS[loop_name], main())


def test_bind_refuses_a_port_in_use() -> None:
    first = bind("127.0.0.1", 0)
    try:
        with pytest.raises(OSError):
            bind("127.0.0.1", first.getsockname()[1])
    finally:
        first.close()
