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
from typing import Any
from urllib.parse import unquote, urlsplit

import msgspec

from localviyo.core.filter import Node
from localviyo.core.listing import Position, Sort
from localviyo.core.profile import IDENTIFIERS, Profile, identifier_keys
from localviyo.errors import DuplicateProfile, profile_not_found
from localviyo.storage.base import Account, KeyRecord
from localviyo.storage.migrations import MIGRATIONS
from localviyo.storage.sql import LOOKUP_COLUMNS, Compiler

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Profile).decode
_SQL = Compiler("?")


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

    def _row(self, profile: Profile) -> dict[str, Any]:
        keys = identifier_keys(profile, external_id_unique=self.external_id_unique)
        row: dict[str, Any] = {f"{name}_key": keys.get(name) for name in IDENTIFIERS}
        row.update(external_id=profile.external_id, created=profile.created, updated=profile.updated)
        row["body"] = _encode(profile)
        return row

    def _load(self, db: sqlite3.Connection, account_id: str, profile_id: str) -> Profile | None:
        row = db.execute(
            "SELECT body FROM profiles WHERE account_id = ? AND id = ?", (account_id, profile_id)
        ).fetchone()
        return None if row is None else _decode(row[0])

    def _insert(self, db: sqlite3.Connection, account_id: str, profile: Profile) -> None:
        self._check_unique(db, account_id, profile, None)
        row = {"account_id": account_id, "id": profile.id, **self._row(profile)}
        names = ", ".join(row)
        db.execute(f"INSERT INTO profiles ({names}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))

    def _replace(self, db: sqlite3.Connection, account_id: str, old: Profile, new: Profile) -> Profile:
        if new == old:
            return old
        self._check_unique(db, account_id, new, old)
        row = self._row(new)
        assignments = ", ".join(f"{name} = ?" for name in row)
        db.execute(
            f"UPDATE profiles SET {assignments} WHERE account_id = ? AND id = ?",
            (*row.values(), account_id, old.id),
        )
        return new

    def create_profile(self, account_id: str, profile: Profile) -> Profile:
        with self._write() as db:
            self._insert(db, account_id, profile)
        return profile

    def update_profile(self, account_id: str, profile_id: str, change: Callable[[Profile], Profile]) -> Profile:
        with self._write() as db:
            old = self._load(db, account_id, profile_id)
            if old is None:
                raise profile_not_found(profile_id)
            return self._replace(db, account_id, old, change(old))

    def import_profile(
        self,
        account_id: str,
        profile_id: str | None,
        identifiers: dict[str, str],
        build: Callable[[Profile | None], Profile],
    ) -> tuple[Profile, bool]:
        with self._write() as db:
            if profile_id is not None:
                old = self._load(db, account_id, profile_id)
                if old is None:
                    raise profile_not_found(profile_id)
            else:
                old = self._resolve(db, account_id, identifiers)
            new = build(old)
            if old is None:
                self._insert(db, account_id, new)
                return new, True
            return self._replace(db, account_id, old, new), False

    def _resolve(self, db: sqlite3.Connection, account_id: str, identifiers: dict[str, str]) -> Profile | None:
        found: list[str] = []
        for name, value in identifiers.items():
            row = db.execute(
                f"SELECT id FROM profiles WHERE account_id = ? AND {LOOKUP_COLUMNS[name]} = ? ORDER BY id LIMIT 1",
                (account_id, value),
            ).fetchone()
            if row is not None and row[0] not in found:
                found.append(row[0])
        if len(found) > 1:
            raise DuplicateProfile(found[0])
        return self._load(db, account_id, found[0]) if found else None

    def merge_profiles(
        self,
        account_id: str,
        destination_id: str,
        source_id: str,
        merge: Callable[[Profile, Profile], Profile],
    ) -> Profile:
        with self._write() as db:
            destination = self._load(db, account_id, destination_id)
            source = self._load(db, account_id, source_id)
            if destination is None or source is None:
                raise profile_not_found(destination_id if destination is None else source_id)
            db.execute("DELETE FROM profiles WHERE account_id = ? AND id = ?", (account_id, source_id))
            return self._replace(db, account_id, destination, merge(destination, source))

    def list_profiles(
        self,
        account_id: str,
        where: Node | None,
        sort: Sort,
        start: Position | None,
        backwards: bool,
        limit: int,
    ) -> list[Profile]:
        params: list[Any] = [account_id]
        conditions = ["account_id = ?"]
        if where is not None:
            conditions.append(_SQL.where(where, params))
        if start is not None:
            conditions.append(_SQL.beyond(sort, start, backwards, params))
        sql = (
            f"SELECT body FROM profiles WHERE {' AND '.join(conditions)}"
            f" ORDER BY {_SQL.order(sort, backwards)} LIMIT {int(limit)}"
        )
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [_decode(row[0]) for row in rows]

    def reset(self, account_id: str | None = None) -> None:
        with self._write() as db:
            if account_id is None:
                db.execute("DELETE FROM profiles")
            else:
                db.execute("DELETE FROM profiles WHERE account_id = ?", (account_id,))
