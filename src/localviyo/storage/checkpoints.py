"""Checkpoints on a thread of the server's own, so that its event loop does not wait for the disk.

In WAL mode a commit appends the pages it changed to the WAL; a checkpoint copies them back into the
database file and, unless `synchronous` is off, fsyncs both files. SQLite does it inline, in the COMMIT
that takes the WAL past a thousand pages, so the event loop stops for the copy and the fsyncs. On a large
store the pages are scattered over the file: on the machine the benchmarks ran on, writing one back took
about 20 µs, and an update changes two (bench/README.md, "Where the time goes at 1,000,000 profiles").

Here a thread with a connection of its own makes them. The store tells it how many rows each commit
changed; once `ROWS` have piled up it runs a PASSIVE checkpoint, which copies what is committed without
holding up readers or the writer, and syncs as the store's `synchronous` level says. Durability is the
same either way: a commit never depended on the checkpoint that follows it.

The WAL starts over from its beginning (and so stops growing) only when a write transaction begins with
every frame already copied back. Under steady load the thread is a batch behind, so that moment never
comes by itself: the store drains the WAL when it passes `WAL_LIMIT` pages (storage/wal_drain.py), and
the thread tells it after each checkpoint how far it got. Under light load the thread catches up between
writes, and the WAL restarts without that.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

log = logging.getLogger("localviyo")

ROWS = 32  # rows changed between two checkpoints of the thread

# After each checkpoint: pages in the WAL, pages copied back, and the token of the last checkpoint asked
# for with `request` before this one began (0: none).
Report = Callable[[int, int, int], None]


class Checkpointer:
    def __init__(self, path: str, synchronous: int, report: Report | None = None) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute(f"PRAGMA synchronous = {synchronous}")
        self._report = report
        self._changed = 0  # rows committed since the last checkpoint was asked for (writers only)
        self._token = 0  # of the last checkpoint asked for with `request`
        self._state = threading.Condition()
        self._due = self._running = self._closing = False
        self._thread = threading.Thread(target=self._run, name="localviyo-checkpoints", daemon=True)
        self._thread.start()

    def committed(self, rows: int) -> None:
        """A COMMIT changed `rows` rows. Called by writers, which the store serialises."""
        self._changed += rows
        if self._changed >= ROWS:
            self._changed = 0
            self.request()

    def request(self, token: int | None = None) -> None:
        """Make a checkpoint as soon as the one running, if any, is done; with a `token`, it and the
        checkpoints after it report that one."""
        with self._state:
            if token is not None:
                self._token = token
            self._due = True
            self._state.notify()

    def settle(self, timeout: float = 30.0) -> bool:
        """Wait until no checkpoint is due or running; False if that took longer than `timeout`."""
        with self._state:
            return self._state.wait_for(lambda: not (self._due or self._running), timeout)

    def _run(self) -> None:
        while True:
            with self._state:
                self._state.wait_for(lambda: self._due or self._closing)
                if self._closing:
                    return
                self._due, self._running = False, True
                token = self._token
            try:
                _, pages, copied = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if self._report is not None:
                    self._report(pages, copied, token)
            except sqlite3.Error as error:
                # The frames stay in the WAL, readable as ever; the next checkpoint copies them.
                log.warning("a checkpoint failed; the next one will try again: %s", error)
            finally:
                with self._state:
                    self._running = False
                    self._state.notify_all()

    def close(self) -> None:
        with self._state:
            self._closing = True
            self._state.notify_all()
        self._thread.join()
        self._db.close()
