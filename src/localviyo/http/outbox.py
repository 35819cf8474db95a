"""The answers written in one turn of the event loop leave together, at the start of the next turn.

A write to a TCP socket on loopback does the receiver's work too, in the sender's system call: it wakes
the client's thread if it sleeps. On a virtual machine that wake-up is an interrupt sent to another
virtual CPU, and it took ~11% of the server's CPU time (perf: `sock_def_readable` under every `send`;
bench/ROUNDS.md, eleventh round). A server busy with many connections answers them one after another, a
few hundred microseconds apart, so the client has gone back to sleep before each answer and every answer
wakes it.

So a connection's writes wait in its outbox, and the first of a turn queues one callback that sends
everything waiting, connection by connection, back to back: the first send wakes the client, and the
rest find it awake. The callback runs at the start of the loop's next turn, after the poll for I/O and
before any request that poll brought in is worked on, so an answer waits for the other work of its turn
and never for work that arrived after it. With nothing else to do, the next turn is immediate.

A connection whose unsent bytes pass `HIGH_WATER` sends them at once, so an app streaming a large body
still meets the transport's backpressure (`pause_writing`) as it would without the outbox.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

HIGH_WATER = 64 * 1024  # unsent bytes of one connection after which it sends without waiting


class Sender(Protocol):
    def flush(self) -> None: ...


class Outbox:
    """The connections of one server (one event loop) that have bytes waiting to be sent."""

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: list[Sender] = []

    def add(self, sender: Sender, loop: asyncio.AbstractEventLoop) -> None:
        """`sender` has bytes waiting: it is flushed with the others at the start of the next turn."""
        if not self._waiting:
            loop.call_soon(self.flush)
        self._waiting.append(sender)

    def flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        for sender in waiting:
            sender.flush()
