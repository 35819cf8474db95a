"""Restarting the WAL without the event loop waiting for the disk.

The WAL starts over from its beginning only when a write transaction begins with every frame already
copied back into the database file (storage/checkpoints.py). Under load that moment never comes by
itself: each of the checkpoint thread's checkpoints stops a round short. SQLite's own remedy, a checkpoint
in the COMMIT that takes the WAL past a limit, runs on the event loop and syncs both files; on the
1,000,000-profile store of the benchmarks, on a machine where updates ran at 9,000 a second, that COMMIT
took 15-45 ms, three quarters of it waiting for the disk, two to six times a second (bench/ROUNDS.md,
seventeenth round).

So as the thread reports the WAL nearing `WAL_LIMIT` pages, the store drains it, in two steps. First it
asks the thread for a flush while writes go on (`AHEAD`: it begins at three quarters of the limit, for
the WAL goes on growing meanwhile): a checkpoint of the whole WAL, then an fsync of the database file,
and again, as long as the writes made meanwhile leave much to copy. The thread's checkpoints leave the
file's sync for later (storage/checkpoints.py), so this is where the pages copied since the WAL last
restarted reach the disk, scattered over the file as they are: the longest part of a drain, which is why
no write waits for it. Then, once the flush is reported, writes that arrive wait at `gate` (the app
awaits it before it calls the store); the batch already open commits at the start of the next turn, not
at the end of its turns (storage/group_commit.py), since no write can join it; the thread checkpoints the
whole WAL after that commit (and syncs the file, the little copied since the flush); and once it reports
every frame copied, with no commit since it was asked, the gate opens. The first write after it begins
with the WAL wholly copied back, and SQLite restarts the WAL there, syncing its new header alone. Reads go
on all the while. Writes wait for one batch's commit and one checkpoint of a few hundred pages, once per
`WAL_LIMIT` pages: 9-30 ms on the 1,000,000-profile store of the benchmarks, where a flush of a single
checkpoint, and a checkpoint asked for before the open batch committed as well as after, had them wait
40-60 ms (bench/ROUNDS.md, twenty-first round).

The drain is only ever a way to let the WAL restart: a write that does not wait (the admin API's, another
thread's) is as correct as ever, and only delays the restart. If the thread cannot copy every frame (a
read transaction of another program's pins older ones), the gate opens after `TIMEOUT` anyway. After a
drain the next one waits until the WAL has grown by another half limit, unless the thread sees it
restart first; SQLite's own checkpoint stays as the last resort, at `AUTOCHECKPOINT` times the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

WAL_LIMIT = 16_000  # pages in the WAL (64 MB) at which a drain holds writes back (its flush begins before)
AUTOCHECKPOINT = 4  # SQLite's own checkpoint on the server's connection, at this many times the limit
TIMEOUT = 0.1  # seconds a drain may hold writes back
AHEAD = 4  # a drain's flush begins a quarter of the limit early, so that its gate closes near the limit


class WalDrain:
    """The event loop's side of draining the WAL. `flush(token)` asks the checkpoint thread for a
    checkpoint and an fsync of the database file, `request(token)` for a checkpoint of the whole WAL; the
    thread calls `checkpointed` after each of its checkpoints."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        request: Callable[[int], None],
        flush: Callable[[int], None],
        *,
        limit: int = WAL_LIMIT,
        timeout: float = TIMEOUT,
    ) -> None:
        self.loop = loop
        self.request = request
        self.flush = flush
        self.limit = limit
        self.timeout = timeout
        self.gate: asyncio.Future[None] | None = None  # while draining: what writes wait for
        self._threshold = limit  # WAL pages at which the next drain begins
        self._asked = 0  # the token of the last checkpoint asked for; one per commit during a drain
        self._flushing = False  # a drain has begun: the flush before its gate is asked for
        self._log = 0  # WAL pages in the thread's last report
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    # on the checkpoint thread

    def checkpointed(self, log: int, done: int, token: int) -> None:
        """The thread's checkpoint found `log` pages in the WAL and had copied `done` of them; it began
        after the checkpoint asked for with `token` (0: none was)."""
        if log < self.limit:
            self._threshold = self.limit  # the WAL restarted
        if self._closed or (self.gate is None and not self._flushing and log < self._flush_at()):
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed: the server is gone, and the drain
            self.loop.call_soon_threadsafe(self._report, log, done, token)

    # on the event loop (and, for `committed`, on whichever thread commits, with the store's lock held)

    def committed(self) -> None:
        """A transaction of the server's connection committed: during a drain, its pages must be copied
        too before the gate opens."""
        if self.gate is not None:
            self._ask()

    def _ask(self) -> None:
        self.request(self._next_token())

    def _next_token(self) -> int:
        """A new token for a checkpoint asked for: from now on, reports of those begun before it no longer
        count."""
        self._asked += 1
        return self._asked

    def _request_unless_asked(self, token: int) -> None:
        if self.gate is not None and self._asked == token:  # no commit has asked since the gate closed
            self.request(token)

    def _report(self, log: int, done: int, token: int) -> None:
        if self._closed:
            return
        self._log = log
        if self._flushing:
            if token == self._asked:  # flushed: now the whole WAL, with writes held back
                self._flushing = False
                self.gate = self.loop.create_future()
                self._timer = self.loop.call_later(self.timeout, self.open)
                # The batch open now commits at the start of the next turn, and asks for the checkpoint
                # itself; asked at once as well, it would take two checkpoints, and two pairs of fsyncs.
                # The token is taken now all the same: a report of a checkpoint begun before the gate
                # closed must not open it.
                self.loop.call_soon(self._request_unless_asked, self._next_token())
        elif self.gate is None:
            if log >= self._flush_at():
                self._flushing = True
                self.flush(self._next_token())
        elif token == self._asked and done >= log:
            self.open()

    def _flush_at(self) -> int:
        return self._threshold - self.limit // AHEAD

    def open(self) -> None:
        """Let writes through: the WAL is copied back (or the drain took too long, or the server stops)."""
        gate, self.gate = self.gate, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if gate is not None:
            self._threshold = self._log + self.limit // 2
            gate.set_result(None)

    def close(self) -> None:
        self._closed = True
        self.open()
