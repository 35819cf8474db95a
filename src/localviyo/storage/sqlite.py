"""The embedded store: one SQLite file in WAL mode.

All work goes through one connection guarded by a lock; while a server runs, a thread with a connection
of its own also copies the WAL back into the file (storage/checkpoints.py). Every transaction that
writes is `BEGIN IMMEDIATE`, which takes SQLite's write lock before the first read, so two writers — in
this process or another one on the same file — are serialised and neither can lose the other's change.
On the server's event loop the writes of three turns of the loop share a transaction, and the reads of
one turn another (storage/group_commit.py). Statements are short (indexed lookups by key), so the server
calls the store directly on its event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from localviyo.storage.base import KeyRecord
from localviyo.storage.checkpoints import Checkpointer
from localviyo.storage.group_commit import GroupCommit
from localviyo.storage.relational import Connection, RelationalStore
from localviyo.storage.wal_drain import AUTOCHECKPOINT, WAL_LIMIT, WalDrain


def sqlite_path(url: str) -> str:
    """`sqlite:///relative.db`, `sqlite:////abs/path.db`, `sqlite://:memory:`."""
    parts = urlsplit(url)
    if parts.netloc == ":memory:" or parts.path in ("/:memory:", ":memory:"):
        return ":memory:"
    path = unquote(parts.path)
    return path[1:] if path.startswith("/") else path


# The two context managers below are classes rather than @contextmanager generators: every request goes
# through one of them, and a generator-based one costs several microseconds more each time.


class _Locked:
    """`with store._read() as db`: the connection, held by this thread for one statement or a few."""

    __slots__ = ("_db", "_lock")

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db, self._lock = db, lock

    def __enter__(self) -> Connection:
        self._lock.acquire()
        return self._db

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self._lock.release()


class _Transaction(_Locked):
    """`with store._write() as db`: one `BEGIN IMMEDIATE` transaction, committed when the block ends
    normally and rolled back when it raises (or when COMMIT itself fails)."""

    __slots__ = ("_committed",)

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock, committed: Callable[[], None]) -> None:
        super().__init__(db, lock)
        self._committed = committed

    def __enter__(self) -> Connection:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._db

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        try:
            if kind is not None:
                self._rollback()
                return
            try:
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            self._committed()
        finally:
            self._lock.release()

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")


# SQLite's page cache on a serving connection, in KiB (SQLite's default is 2,000): enough for all of a
# store of 10,000 profiles, or for the inner pages of a store of 1,000,000, which a batch of 128 updates
# would otherwise push out of the default one: 3-5% more updates a second at 128 connections at either
# size (bench/ROUNDS.md, fifteenth round). Pages are allocated as they are read: a small store costs little.
SERVING_CACHE_KIB = 32 * 1024

# `PRAGMA synchronous` in WAL mode, as the `sqlite_synchronous` setting names it. full: every COMMIT waits
# for the WAL to reach the disk; normal: only checkpoints do, so a power cut may undo the last commits but
# never corrupts the file; off: nothing does, so a power cut may corrupt it. A crash or kill of the server
# alone loses nothing in any of them: what was written is in the operating system's hands.
SYNCHRONOUS = {"off": 0, "normal": 1, "full": 2}


class SQLiteStore(RelationalStore):
    dialect: ClassVar[str] = "sqlite"
    UNIQUE_VIOLATION = (sqlite3.IntegrityError,)

    def __init__(
        self,
        path: str,
        *,
        external_id_unique: bool = True,
        synchronous: str = "normal",
        checkpoints: str = "thread",
        wal_limit: int = WAL_LIMIT,
    ) -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous={synchronous!r}: expected one of {', '.join(SYNCHRONOUS)}")
        if checkpoints not in ("thread", "inline"):
            raise ValueError(f"checkpoints={checkpoints!r}: expected thread or inline")
        self.checkpoints = checkpoints
        self.wal_limit = wal_limit  # WAL pages at which a server's writes let it restart (wal_drain.py)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.inline = True
        self.path = path
        self.external_id_unique = external_id_unique
        self._lock = threading.RLock()
        self._keys: dict[str, KeyRecord | None] = {}
        self._keys_version = -1
        # The server's event loop and its thread (see serve_on); compared by thread id, because asking
        # asyncio for the running loop costs a getpid() system call each time in Python 3.11.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._fresh = False  # the key memory was checked in this turn of the loop (see key_by_hash)
        self._group: GroupCommit | None = None
        self._checkpointer: Checkpointer | None = None  # with checkpoints="thread", while a server runs
        self._drain: WalDrain | None = None  # with the checkpointer (storage/wal_drain.py)
        self._changes_seen = 0  # the connection's total_changes when the checkpointer last heard of it
        self._cache_size: int | None = None  # `PRAGMA cache_size` before serve_on, given back by stop_serving
        self._synchronous = SYNCHRONOUS[synchronous]
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute(f"PRAGMA synchronous = {self._synchronous}")
        self._db.execute("PRAGMA foreign_keys = ON")

    def _write(self, *, one_statement: bool = False) -> AbstractContextManager[Connection]:
        group = self._group
        if group is not None and threading.get_ident() == self._loop_thread:
            return group.write(one_statement=one_statement)
        return _Transaction(self._db, self._lock, self._committed)

    def _committed(self) -> None:
        """A COMMIT of this connection succeeded (the lock is held)."""
        checkpointer = self._checkpointer
        if checkpointer is not None:
            total = self._db.total_changes
            checkpointer.committed(total - self._changes_seen)
            self._changes_seen = total
        if self._drain is not None:
            self._drain.committed()

    def _checkpointed(self, pages: int, copied: int, token: int) -> None:
        """The checkpoint thread's report of each checkpoint (on that thread)."""
        drain = self._drain
        if drain is not None:
            drain.checkpointed(pages, copied, token)

    def _draining(self) -> bool:
        """Writes wait at the gate of a WAL drain (storage/wal_drain.py)."""
        return self.write_gate() is not None

    def _read(self) -> AbstractContextManager[Connection]:
        """On the server's loop with group commit, in the transaction of the turn (group_commit.py)."""
        group = self._group
        if group is not None and threading.get_ident() == self._loop_thread:
            return group.read()
        return _Locked(self._db, self._lock)

    @property
    def synchronous(self) -> str:
        """The durability the connection runs with, as SQLite reports it."""
        with self._read() as db:
            level = db.execute("PRAGMA synchronous").fetchone()[0]
        return {number: name for name, number in SYNCHRONOUS.items()}.get(level, str(level))

    def serve_on(self, loop: asyncio.AbstractEventLoop, *, group_commit: bool) -> None:
        """A server runs on `loop`, on this thread, from now on: its key lookups check for changes once
        per turn of the loop (see key_by_hash), with `group_commit` its writes share transactions
        (storage/group_commit.py), its page cache is `SERVING_CACHE_KIB`, and with checkpoints="thread" a
        thread makes the checkpoints (storage/checkpoints.py) and the WAL is drained on the loop when it
        grows long (storage/wal_drain.py), until `stop_serving`."""
        with self._lock:
            self._loop, self._loop_thread, self._fresh = loop, threading.get_ident(), False
            self._group = (
                GroupCommit(self._db, self._lock, loop, self._committed, self._draining) if group_commit else None
            )
            if self._cache_size is None:
                self._cache_size = self._db.execute("PRAGMA cache_size").fetchone()[0]
            self._db.execute(f"PRAGMA cache_size = -{SERVING_CACHE_KIB}")
            self._stop_checkpointer()
            if self.checkpoints == "thread" and self.path != ":memory:":
                # SQLite's own checkpoint stays, as a last resort should drains not restart the WAL.
                self._db.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT * self.wal_limit}")
                self._changes_seen = self._db.total_changes
                checkpointer = Checkpointer(self.path, self._synchronous, self._checkpointed, limit=self.wal_limit)
                drain = WalDrain(loop, checkpointer.request, checkpointer.flush, limit=self.wal_limit)
                self._checkpointer, self._drain = checkpointer, drain

    def settle(self, timeout: float = 30.0) -> bool:
        """Wait until the checkpoint thread, if there is one, has made the checkpoints asked of it so far
        (for tests); False if that took longer than `timeout` seconds."""
        checkpointer = self._checkpointer
        return checkpointer is None or checkpointer.settle(timeout)

    def stop_serving(self) -> None:
        """The server has stopped: store a batch still open, end the turn's reads, stop the checkpoint
        thread, give the cache back, and forget the loop, so that calls from the thread that ran it are
        plain calls again (they would otherwise wait for turns of a loop that has ended)."""
        with self._lock:
            group = self._group
            if group is not None and threading.get_ident() == self._loop_thread:
                if group.open is not None:
                    group.commit(group.open)  # its requests wait for it: what they wrote is kept
                group.end_reads()
            self._stop_checkpointer()
            if self._cache_size is not None:
                self._db.execute(f"PRAGMA cache_size = {self._cache_size}")
                self._cache_size = None
            self._loop, self._loop_thread, self._group, self._fresh = None, None, None, False

    def _stop_checkpointer(self) -> None:
        if self._drain is not None:
            self._drain.close()  # writes waiting for it go on
            self._drain = None
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
            self._db.execute("PRAGMA wal_autocheckpoint = 1000")  # SQLite's default

    def pending_commit(self) -> asyncio.Future[None] | None:
        group = self._group
        return None if group is None else group.open

    def write_gate(self) -> asyncio.Future[None] | None:
        drain = self._drain
        return None if drain is None else drain.gate

    # Every request looks its key up. Keys change rarely, so they are remembered until the file changes
    # under us: `PRAGMA data_version` moves whenever another connection (a `localviyo keys` command,
    # another server process) commits, and our own key writes clear the memory themselves.
    #
    # That check is a read transaction of its own, as costly as the profile read it precedes, so on the
    # server's event loop (serve_on) it is made once per turn of the loop: the requests run in one turn
    # were all received before the turn began, so none of them was sent after a change the check could
    # miss. (Each turn runs the callbacks queued before it; the one that ends freshness is queued by the
    # first check, behind every request already waiting.) Any other thread checks every time.

    def key_by_hash(self, key_hash: str) -> KeyRecord | None:
        with self._lock:
            on_loop = threading.get_ident() == self._loop_thread
            if not (on_loop and self._fresh):
                self._check_version(on_loop)
            if key_hash in self._keys:
                return self._keys[key_hash]
            record = super().key_by_hash(key_hash)
            if len(self._keys) < 10_000:
                self._keys[key_hash] = record
            return record

    def _check_version(self, on_loop: bool) -> None:
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._keys_version:
            self._keys.clear()
            self._keys_version = version
        if on_loop and self._loop is not None:
            self._fresh = True
            self._loop.call_soon(self._turn_ended)

    def _turn_ended(self) -> None:
        self._fresh = False

    def add_key(self, key: KeyRecord) -> None:
        with self._lock:
            self._keys.clear()
            super().add_key(key)

    def add_first_key(self, key: KeyRecord) -> bool:
        with self._lock:
            self._keys.clear()
            return super().add_first_key(key)

    def revoke_key(self, key_hash: str, now: float) -> bool:
        with self._lock:
            self._keys.clear()
            return super().revoke_key(key_hash, now)

    def close(self) -> None:
        with self._lock:
            self._stop_checkpointer()
            self._db.close()
