"""The listening socket: bound here, and every connection waiting on it accepted in one turn of the loop.

Why not `loop.create_server`: on uvloop it accepts one connection per turn of the loop. When 32 clients
connect at once to a server that is busy answering, the last of them waits 32 turns, each longer than the
one before as the connections already taken send more requests: about 170 ms on a Find by email at
1,000,000 profiles (bench/ROUNDS.md, tenth round), while every answer in between took under 17 ms. Here
the loop is told when the socket is readable, and everything in its queue is taken then (up to the
backlog, so that a flood of connections cannot keep the loop from the requests in progress).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

log = logging.getLogger("localviyo")

RETRY_AFTER_FAILURE = 0.5  # seconds without accepting after the process ran out of file descriptors


def bind(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on `host`:`port` (IPv6 when `host` has a colon), inheritable by workers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class Listener:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: Callable[[], asyncio.Protocol],
        *,
        batch: int = 2048,
        retry_after: float = RETRY_AFTER_FAILURE,
    ) -> None:
        self.loop, self.sock, self.protocol, self.batch = loop, sock, protocol, batch
        self.retry_after = retry_after
        self.listening = False
        self._server: asyncio.AbstractServer | None = None
        self._connecting: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.sock.setblocking(False)
        try:
            self.loop.add_reader(self.sock.fileno(), self.accept_waiting)
        except NotImplementedError:  # a loop that cannot watch a socket (Windows' proactor): its own way
            self._server = await self.loop.create_server(self.protocol, sock=self.sock)
        self.listening = True

    def close(self) -> None:
        """Stop accepting and close the socket; connections already taken are left to the caller."""
        if self._server is not None:
            self._server.close()
        elif self.listening:
            self.loop.remove_reader(self.sock.fileno())
        self.listening = False
        self.sock.close()

    def accept_waiting(self) -> int:
        """Take every connection waiting on the socket (what the loop calls when it is readable); how many."""
        taken = 0
        while taken < self.batch:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                break  # the queue is empty
            except ConnectionAbortedError:
                continue  # a client gave up while it waited; others may still be there
            except OSError as error:  # out of file descriptors, or of memory: wait, then try again
                log.error("localviyo: cannot accept connections (%s); trying again shortly", error)
                self.loop.remove_reader(self.sock.fileno())
                self.loop.call_later(self.retry_after, self._resume)
                break
            taken += 1
            conn.setblocking(False)
            if conn.family in (socket.AF_INET, socket.AF_INET6):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self.loop.create_task(self._connect(conn))
            self._connecting.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(self._connecting.discard)
        return taken

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self.loop.connect_accepted_socket(self.protocol, sock=conn)
        except OSError:  # reset before it could be set up: nothing to answer
            conn.close()

    def _resume(self) -> None:
        if self.listening and self.sock.fileno() != -1:
            self.loop.add_reader(self.sock.fileno(), self.accept_waiting)
