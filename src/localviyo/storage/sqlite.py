"""The embedded store: one SQLite file in WAL mode.

All work goes through one connection guarded by a lock. Every transaction is `BEGIN IMMEDIATE`, which
takes SQLite's write lock before the first read, so two writers — in this process or another one on the
same file — are serialised and neither can lose the other's change. Statements are short (indexed lookups
by key), so the server calls the store directly on its event loop.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from localviyo.storage.base import KeyRecord
from localviyo.storage.relational import Connection, RelationalStore


def sqlite_path(url: str) -> str:
    """`sqlite:///relative.db`, `sqlite:////abs/path.db`, `sqlite://:memory:`."""
    parts = urlsplit(url)
    if parts.netloc == ":memory:" or parts.path in ("/:memory:", ":memory:"):
        return ":memory:"
    path = unquote(parts.path)
    return path[1:] if path.startswith("/") else path


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
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA foreign_keys = ON")
        self._closed = threading.Event()
        if path != ":memory:":
            # Copying the WAL back into the database (a checkpoint) would otherwise fall, every thousand
            # pages, on whichever request commits then; a thread of its own does it instead, on the other
            # core (sqlite3 lets go of the GIL while it works).
            self._db.execute("PRAGMA wal_autocheckpoint = 0")
            threading.Thread(target=self._checkpoints, name="localviyo-checkpoint", daemon=True).start()

    def _checkpoints(self, every: float = 0.2) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=1)
        try:
            while not self._closed.wait(every):
                with contextlib.suppress(sqlite3.Error):  # busy or locked: the next round tries again
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._lock:
            yield self._db

    # Every request looks its key up. Keys change rarely, so they are remembered until the file changes
    # under us: `PRAGMA data_version` moves whenever another connection (a `localviyo keys` command,
    # another server process) commits, and our own key writes clear the memory themselves.

    def key_by_hash(self, key_hash: str) -> KeyRecord | None:
        with self._lock:
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            if version != self._keys_version:
                self._keys.clear()
                self._keys_version = version
            if key_hash in self._keys:
                return self._keys[key_hash]
            record = super().key_by_hash(key_hash)
            if len(self._keys) < 10_000:
                self._keys[key_hash] = record
            return record

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
        self._closed.set()
        with self._lock:
            self._db.close()
