"""The embedded store: one SQLite file in WAL mode.

All work goes through one connection guarded by a lock. Every transaction is `BEGIN IMMEDIATE`, which
takes SQLite's write lock before the first read, so two writers — in this process or another one on the
same file — are serialised and neither can lose the other's change. Statements are short (indexed lookups
by key), so the server calls the store directly on its event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from localviyo.storage.base import KeyRecord
from localviyo.storage.group_commit import GroupCommit
from localviyo.storage.relational import Connection, RelationalStore


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

    __slots__ = ()

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
        finally:
            self._lock.release()

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class SQLiteStore(RelationalStore):
    dialect: ClassVar[str] = "sqlite"
    UNIQUE_VIOLATION = (sqlite3.IntegrityError,)

    def __init__(self, path: str, *, external_id_unique: bool = True) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.inline = True
        self.path = path
        self.external_id_unique = external_id_unique
        self._lock = threading.RLock()
        self._keys: dict[str, KeyRecord | None] = {}
        self._keys_version = -1
        self._checked_in: asyncio.AbstractEventLoop | None = None  # see key_by_hash
        self._group: GroupCommit | None = None  # see batch_writes
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA foreign_keys = ON")
        # Checkpoints (copying the WAL back into the database) stay SQLite's own: inline, in the COMMIT that
        # takes the WAL past a thousand pages. A thread that checkpointed on the side was tried and measured
        # slower (bench/README.md): the WAL never got back to its start, so every COMMIT appended to a
        # growing file while the other thread synced it, and a COMMIT took 80 µs instead of 20.

    def _write(self) -> AbstractContextManager[Connection]:
        group = self._group
        if group is not None and _running_loop() is group.loop:
            return group.write()
        return _Transaction(self._db, self._lock)

    def _read(self) -> _Locked:
        return _Locked(self._db, self._lock)

    def batch_writes(self, loop: asyncio.AbstractEventLoop) -> None:
        """Group commit (storage/group_commit.py) for the writes made on `loop`'s thread from now on."""
        with self._lock:
            if self._group is None or self._group.loop is not loop:
                self._group = GroupCommit(self._db, self._lock, loop)

    def pending_commit(self) -> asyncio.Future[None] | None:
        group = self._group
        return None if group is None else group.open

    # Every request looks its key up. Keys change rarely, so they are remembered until the file changes
    # under us: `PRAGMA data_version` moves whenever another connection (a `localviyo keys` command,
    # another server process) commits, and our own key writes clear the memory themselves.
    #
    # That check is a read transaction of its own, as costly as the profile read it precedes, so the
    # event loop's thread makes it once per turn of the loop: the requests run in one turn were all
    # received before the turn began, so none of them was sent after a change the check could miss.
    # (Each turn runs the callbacks queued before it; the one that ends freshness is queued by the first
    # check, behind every request already waiting.) Any other thread checks every time.

    def key_by_hash(self, key_hash: str) -> KeyRecord | None:
        with self._lock:
            loop = _running_loop()
            if loop is None or loop is not self._checked_in:
                self._check_version(loop)
            if key_hash in self._keys:
                return self._keys[key_hash]
            record = super().key_by_hash(key_hash)
            if len(self._keys) < 10_000:
                self._keys[key_hash] = record
            return record

    def _check_version(self, loop: asyncio.AbstractEventLoop | None) -> None:
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._keys_version:
            self._keys.clear()
            self._keys_version = version
        if loop is not None:
            self._checked_in = loop
            loop.call_soon(self._turn_ended)

    def _turn_ended(self) -> None:
        self._checked_in = None

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
            self._db.close()
