"""Checkpoints on a thread of the server's own, so that its event loop does not wait for the disk.

In WAL mode a commit appends the pages it changed to the WAL; a checkpoint copies them back into the
database file. SQLite does it inline, in the COMMIT that takes the WAL past a thousand pages, so the event
loop stops for the copy and the fsyncs. Here a thread with a connection of its own makes them: the store
tells it how many rows each commit changed, and once `ROWS` have piled up (a round) it runs a PASSIVE
checkpoint, which copies what is committed without holding up readers or the writer. A round of a
thousand rows is about as many pages as SQLite's own checkpoints let the WAL hold; rounds of 32 rows cost
10-20% of the updates at 32 connections, in the thread's fsyncs of the WAL and the GIL handed back and
forth, whose interrupts and waits the event loop shared (bench/ROUNDS.md, twenty-first round).

A checkpoint stops a round short. With `synchronous` normal or full SQLite fsyncs the WAL before it copies
frames, and the database file after a checkpoint that copied every frame, since that is what lets the
WAL start over; after one that copies some of them it leaves the file to the operating system. On a large
store the pages an update changes lie far apart in the file, and syncing them a few dozen at a time, a few
hundred times a second, cost the 1,000,000-profile store of the benchmarks 5-28% of its updates
(bench/ROUNDS.md, twentieth round). So before each checkpoint the thread begins a read transaction at the
WAL's end (`_Pins`), and keeps it until the checkpoint after: SQLite never copies frames past a reader's
snapshot, so each checkpoint copies up to where the one before began, syncs the WAL, and leaves the
file's sync for later. Nothing about durability changes: SQLite still syncs the file before the WAL may
restart, as it always does.

The WAL starts over from its beginning (and so stops growing) only when a write transaction begins with
every frame copied back. The store drains the WAL as it nears `WAL_LIMIT` pages (storage/wal_drain.py):
it first asks for a `flush`, while writes go on: checkpoints of the whole WAL, each followed by an fsync
of the database file, until one finds little new to copy (`FLUSH_TAIL`), since writes go on meanwhile;
then for a checkpoint of the whole WAL with writes held back (`request` with a token), which copies and
syncs what little came in since. The thread tells it after each checkpoint how far it got. When writes
stop, the thread copies the rest back by itself after `IDLE` seconds, so that under light load the WAL
restarts at the next write and stays short, as it did before the pins.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable

from localviyo.storage.wal_drain import WAL_LIMIT

log = logging.getLogger("localviyo")

ROWS = 1000  # rows changed between two checkpoints of the thread, at the default WAL limit
IDLE = 0.25  # seconds without a round after which the thread copies the rest of the WAL back
FLUSH_TAIL = 256  # pages, at the default WAL limit: a flush copies and syncs again while it finds more
FLUSH_ROUNDS = 4  # and at most this many times, and not once the WAL has reached its limit

# After each checkpoint: pages in the WAL, pages copied back, and the token of the last checkpoint asked
# for with `request` or `flush` before this one began (0: none).
Report = Callable[[int, int, int], None]


def round_rows(wal_limit: int) -> int:
    """Rows in a round for a store whose WAL limit is `wal_limit` pages: as long a round, for its limit."""
    return _scaled(ROWS, wal_limit)


def _scaled(value: int, wal_limit: int) -> int:
    return max(1, value * wal_limit // WAL_LIMIT)


class _Pins:
    """Two connections taking turns to hold a read transaction at the end of the WAL. Before a checkpoint
    the spare one begins a read at the WAL's end; the checkpoint then stops at the older read, which ends
    after it."""

    def __init__(self, path: str) -> None:
        self._older = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._newer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def renew(self) -> None:
        """The spare connection reads at the WAL's end; it becomes the newer pin, the newer the older."""
        spare = self._older
        _release(spare)
        spare.execute("BEGIN")
        spare.execute("SELECT 1 FROM sqlite_schema LIMIT 1").fetchall()
        self._older, self._newer = self._newer, spare

    def drop_older(self) -> None:
        _release(self._older)

    def held(self) -> bool:
        return self._older.in_transaction or self._newer.in_transaction

    def drop(self) -> None:
        _release(self._older)
        _release(self._newer)

    def close(self) -> None:
        self.drop()
        self._older.close()
        self._newer.close()


def _release(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        db.execute("COMMIT")


class Checkpointer:
    def __init__(
        self,
        path: str,
        synchronous: int,
        report: Report | None = None,
        *,
        limit: int = WAL_LIMIT,
        idle: float | None = IDLE,
    ) -> None:
        """`limit`: the store's WAL limit in pages (storage/wal_drain.py), which sets how long a round is."""
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute(f"PRAGMA synchronous = {synchronous}")
        self._pins = _Pins(path)
        self._file = os.open(path, os.O_RDONLY)  # for `flush`: an fsync syncs the file, whichever descriptor
        self._synchronous = synchronous
        self._report = report
        self._idle = idle  # None: never copy the rest of the WAL back unasked (for tests)
        self._limit, self._rows, self._tail = limit, round_rows(limit), _scaled(FLUSH_TAIL, limit)
        self._changed = 0  # rows committed since the last round was asked for (writers only)
        self._token = 0  # of the last checkpoint asked for with `request` or `flush`
        self._state = threading.Condition()
        self._due = self._running = self._closing = False
        self._whole = self._flush = False  # what the next checkpoint must do besides copying a round
        self._thread = threading.Thread(target=self._run, name="localviyo-checkpoints", daemon=True)
        self._thread.start()

    def committed(self, rows: int) -> None:
        """A COMMIT changed `rows` rows. Called by writers, which the store serialises."""
        self._changed += rows
        if self._changed >= self._rows:
            self._changed = 0
            self._ask()

    def request(self, token: int | None = None) -> None:
        """Make a checkpoint as soon as the one running, if any, is done; with a `token`, one of the whole
        WAL (no pins), which it and the checkpoints after it report."""
        self._ask(token, whole=token is not None)

    def flush(self, token: int) -> None:
        """Copy the whole WAL back and fsync the database file, again while that finds much more to copy
        (`FLUSH_TAIL`), and report `token`."""
        self._ask(token, flush=True)

    def _ask(self, token: int | None = None, *, whole: bool = False, flush: bool = False) -> None:
        with self._state:
            if token is not None:
                self._token = token
            self._whole |= whole
            self._flush |= flush
            self._due = True
            self._state.notify()

    def settle(self, timeout: float = 30.0) -> bool:
        """Wait until no checkpoint is due or running; False if that took longer than `timeout`."""
        with self._state:
            return self._state.wait_for(lambda: not (self._due or self._running), timeout)

    def _run(self) -> None:
        while True:
            with self._state:
                idle = self._idle if self._pins.held() else None  # nothing held back: nothing to wait for
                due = self._state.wait_for(lambda: self._due or self._closing, idle)
                if self._closing:
                    return
                self._running = True
                token, whole, flush = self._token, self._whole or not due, self._flush
                self._due = self._whole = self._flush = False
            try:
                pages, copied = self._checkpoint(whole, flush)
                if self._report is not None:
                    self._report(pages, copied, token)
            except sqlite3.Error as error:
                # The frames stay in the WAL, readable as ever; the next checkpoint copies them.
                log.warning("a checkpoint failed; the next one will try again: %s", error)
                self._drop_pins()
            finally:
                with self._state:
                    self._running = False
                    self._state.notify_all()

    def _checkpoint(self, whole: bool, flush: bool) -> tuple[int, int]:
        if flush:
            return self._flush_file()
        if whole:
            self._pins.drop()  # and none after it: the next write may restart the WAL
            return self._copy()
        self._pins.renew()
        counts = self._copy()
        self._pins.drop_older()
        return counts

    def _copy(self) -> tuple[int, int]:
        """A PASSIVE checkpoint: the pages in the WAL, and how many of them are copied back."""
        _, pages, copied = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return pages, copied

    def _flush_file(self) -> tuple[int, int]:
        """Checkpoints of the whole WAL, each with an fsync of the file after it, while the one before took
        long enough for writes to add more than `FLUSH_TAIL` pages, and the WAL is short of its limit: the
        drain then holds writes back only while the last few pages are copied and synced."""
        self._pins.drop()
        pages = copied = 0
        for _ in range(FLUSH_ROUNDS):
            before = copied
            pages, copied = self._copy()
            if not self._synchronous:
                break  # nothing is synced: nothing took long
            try:
                os.fdatasync(self._file)
            except OSError as error:  # SQLite's own sync, in the drain's checkpoint of the whole WAL, will tell
                log.warning("could not sync the database file: %s", error)
                break
            if copied - before <= self._tail or pages >= self._limit:
                break  # little came in meanwhile, or too much: the drain's gate should shut now
        return pages, copied

    def _drop_pins(self) -> None:
        try:
            self._pins.drop()
        except sqlite3.Error as error:
            log.warning("could not end the checkpoint thread's reads: %s", error)

    def close(self) -> None:
        with self._state:
            self._closing = True
            self._state.notify_all()
        self._thread.join()
        self._pins.close()
        os.close(self._file)
        self._db.close()
