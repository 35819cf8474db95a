"""The embedded store: one SQLite file in WAL mode.

All work goes through one connection guarded by a lock. Every read-modify-write runs inside
`BEGIN IMMEDIATE`, which takes SQLite's write lock before the read, so two writers — in this process or
another one on the same file — are serialised and neither can lose the other's change. Statements are
short (indexed lookups by key), so the server calls the store directly on its event loop.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

import msgspec

from localviyo.core.profile import IDENTIFIERS, Profile, identifier_keys
from localviyo.errors import DuplicateProfile, profile_not_found
from localviyo.storage.base import Account, KeyRecord
from localviyo.storage.migrations import MIGRATIONS

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Profile).decode


def sqlite_path(url: str) -> str:
    """`sqlite:///relative.db`, `sqlite:////abs/path.db`, `sqlite://:memory:`."""
    parts = urlsplit(url)
    if parts.netloc == ":memory:" or parts.path in ("/:memory:", ":memory:"):
        return ":memory:"
    path = unquote(parts.path)
    return path[1:] if path.startswith("/") else path


class SQLiteStore:
    inline = True

    def __init__(self, path: str, *, external_id_unique: bool = True) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.external_id_unique = external_id_unique
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA foreign_keys = ON")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def migrate(self) -> list[str]:
        applied: list[str] = []
        with self._write() as db:
            db.execute("CREATE TABLE IF NOT EXISTS _localviyo_migrations (name TEXT PRIMARY KEY, applied REAL)")
            done = {row[0] for row in db.execute("SELECT name FROM _localviyo_migrations")}
            for name, sql in MIGRATIONS:
                if name in done:
                    continue
                for statement in sql.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT INTO _localviyo_migrations VALUES (?, julianday('now'))", (name,))
                applied.append(name)
        return applied

    # Accounts and keys

    def ensure_account(self, name: str, new_id: Callable[[], str], now: float) -> Account:
        with self._write() as db:
            row = db.execute("SELECT id, name, created FROM accounts WHERE name = ?", (name,)).fetchone()
            if row is None:
                row = (new_id(), name, now)
                db.execute("INSERT INTO accounts VALUES (?, ?, ?)", row)
        return Account(*row)

    def account_by_name(self, name: str) -> Account | None:
        with self._lock:
            row = self._db.execute("SELECT id, name, created FROM accounts WHERE name = ?", (name,)).fetchone()
        return None if row is None else Account(*row)

    def list_accounts(self) -> list[Account]:
        with self._lock:
            rows = self._db.execute("SELECT id, name, created FROM accounts ORDER BY created, id").fetchall()
        return [Account(*row) for row in rows]

    def add_key(self, key: KeyRecord) -> None:
        with self._write() as db:
            self._insert_key(db, key)

    def add_first_key(self, key: KeyRecord) -> bool:
        with self._write() as db:
            if db.execute("SELECT 1 FROM api_keys LIMIT 1").fetchone() is not None:
                return False
            self._insert_key(db, key)
            return True

    @staticmethod
    def _insert_key(db: sqlite3.Connection, key: KeyRecord) -> None:
        db.execute(
            "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?)",
            (key.hash, key.account_id, key.label, json.dumps(key.scopes), key.created, key.revoked),
        )

    @staticmethod
    def _key(row: tuple[str, str, str, str, float, float | None]) -> KeyRecord:
        return KeyRecord(row[0], row[1], row[2], tuple(json.loads(row[3])), row[4], row[5])

    def key_by_hash(self, key_hash: str) -> KeyRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM api_keys WHERE hash = ?", (key_hash,)).fetchone()
        return None if row is None else self._key(row)

    def list_keys(self) -> list[KeyRecord]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM api_keys ORDER BY created, hash").fetchall()
        return [self._key(row) for row in rows]

    def revoke_key(self, key_hash: str, now: float) -> bool:
        with self._write() as db:
            cursor = db.execute("UPDATE api_keys SET revoked = ? WHERE hash = ? AND revoked IS NULL", (now, key_hash))
            return cursor.rowcount == 1

    # Profiles

    def get_profile(self, account_id: str, profile_id: str) -> Profile | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM profiles WHERE account_id = ? AND id = ?", (account_id, profile_id)
            ).fetchone()
        return None if row is None else _decode(row[0])

    def _check_unique(self, db: sqlite3.Connection, account_id: str, new: Profile, old: Profile | None) -> None:
        old_keys = {} if old is None else identifier_keys(old, external_id_unique=self.external_id_unique)
        new_keys = identifier_keys(new, external_id_unique=self.external_id_unique)
        for name in IDENTIFIERS:
            value = new_keys.get(name)
            if value is None or old_keys.get(name) == value:
                continue
            row = db.execute(
                f"SELECT id FROM profiles WHERE account_id = ? AND {name}_key = ? AND id != ?",
                (account_id, value, new.id),
            ).fetchone()
            if row is not None:
                raise DuplicateProfile(row[0])

    def _columns(self, profile: Profile) -> tuple[str | float | bytes | None, ...]:
        keys = identifier_keys(profile, external_id_unique=self.external_id_unique)
        return (
            *(keys.get(name) for name in IDENTIFIERS),
            profile.created,
            profile.updated,
            _encode(profile),
        )

    def create_profile(self, account_id: str, profile: Profile) -> Profile:
        with self._write() as db:
            self._check_unique(db, account_id, profile, None)
            db.execute(
                "INSERT INTO profiles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (account_id, profile.id, *self._columns(profile)),
            )
        return profile

    def update_profile(self, account_id: str, profile_id: str, change: Callable[[Profile], Profile]) -> Profile:
        with self._write() as db:
            row = db.execute(
                "SELECT body FROM profiles WHERE account_id = ? AND id = ?", (account_id, profile_id)
            ).fetchone()
            if row is None:
                raise profile_not_found(profile_id)
            old = _decode(row[0])
            new = change(old)
            if new == old:
                return old
            self._check_unique(db, account_id, new, old)
            db.execute(
                "UPDATE profiles SET email_key = ?, phone_number_key = ?, external_id_key = ?,"
                " anonymous_id_key = ?, kx_key = ?, created = ?, updated = ?, body = ?"
                " WHERE account_id = ? AND id = ?",
                (*self._columns(new), account_id, profile_id),
            )
        return new

    def reset(self, account_id: str | None = None) -> None:
        with self._write() as db:
            if account_id is None:
                db.execute("DELETE FROM profiles")
            else:
                db.execute("DELETE FROM profiles WHERE account_id = ?", (account_id,))
