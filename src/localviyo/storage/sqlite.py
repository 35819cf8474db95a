"""The embedded store: one SQLite file in WAL mode.

All work goes through one connection guarded by a lock. Every transaction is `BEGIN IMMEDIATE`, which
takes SQLite's write lock before the first read, so two writers — in this process or another one on the
same file — are serialised and neither can lose the other's change. Statements are short (indexed lookups
by key), so the server calls the store directly on its event loop.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

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
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA foreign_keys = ON")

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

    def close(self) -> None:
        with self._lock:
            self._db.close()
