"""Everything SQLite and PostgreSQL stores share: the SQL of each Store operation, written once.

A subclass provides the connection handling (`_write`: one transaction, `_read`: one query) and the few
dialect differences below. SQL here uses `?` placeholders; `_q` turns them into the driver's.

Read-modify-write happens inside one transaction, on a row the transaction holds (`BEGIN IMMEDIATE` in
SQLite, `SELECT … FOR UPDATE` in PostgreSQL), so concurrent writers never lose each other's changes.
Identifier uniqueness is checked in that transaction and enforced by unique indexes; a race the check
cannot see ends in the index, and is reported as the same 409.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Protocol

import msgspec
from mypy_extensions import mypyc_attr

from localviyo.core.filter import Node
from localviyo.core.listing import Position, Sort
from localviyo.core.profile import IDENTIFIERS, Profile, identifier_keys
from localviyo.errors import DuplicateProfile, profile_not_found
from localviyo.storage.base import Account, KeyRecord
from localviyo.storage.migrations import MIGRATIONS, statements
from localviyo.storage.sql import LOOKUP_COLUMNS, Compiler

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Profile).decode
_SQL = Compiler("?")


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    def execute(self, sql: Any, params: Any = ..., /) -> Any: ...


# Compiled (setup.py); PostgresStore, left as Python, subclasses it.
@mypyc_attr(allow_interpreted_subclasses=True)
class RelationalStore:
    dialect: ClassVar[str]
    inline: bool
    external_id_unique: bool
    BODY_IN: ClassVar[str] = "?"  # how a JSON text parameter becomes the body column
    BODY_OUT: ClassVar[str] = "body"  # how the body column comes back as JSON text or bytes
    FOR_UPDATE: ClassVar[str] = ""
    UNIQUE_VIOLATION: ClassVar[tuple[type[Exception], ...]] = ()

    def _write(self, *, one_statement: bool = False) -> AbstractContextManager[Connection]:
        """One transaction (or, sharing one, as atomic as one). `one_statement`: the block changes the
        database with one statement at most, which SQLite undoes by itself when it fails, so a shared
        transaction needs no savepoint around it (storage/group_commit.py)."""
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _lock_migrations(self, db: Connection) -> None:
        """Keep two processes starting at once from applying the same migration twice."""

    def _q(self, sql: str) -> str:
        return sql

    def _x(self, db: Connection, sql: str, params: Sequence[Any] = ()) -> Cursor:
        cursor: Cursor = db.execute(self._q(sql), params)
        return cursor

    def close(self) -> None:
        raise NotImplementedError

    def serve_on(self, loop: asyncio.AbstractEventLoop, *, group_commit: bool) -> None:
        """Every write is a transaction of its own, committed before it returns."""

    def pending_commit(self) -> asyncio.Future[None] | None:
        return None

    def write_gate(self) -> asyncio.Future[None] | None:
        return None

    def stop_serving(self) -> None:
        """Nothing was started for the server."""

    def migrate(self) -> list[str]:
        applied: list[str] = []
        with self._write() as db:
            self._lock_migrations(db)
            self._x(db, "CREATE TABLE IF NOT EXISTS _localviyo_migrations (name TEXT PRIMARY KEY)")
            done = {row[0] for row in self._x(db, "SELECT name FROM _localviyo_migrations").fetchall()}
            for name, sql, extra in MIGRATIONS:
                if name in done:
                    continue
                for statement in statements(sql, extra, self.dialect):
                    self._x(db, statement)
                self._x(db, "INSERT INTO _localviyo_migrations VALUES (?)", (name,))
                applied.append(name)
        return applied

    # Accounts and keys

    def ensure_account(self, name: str, new_id: Callable[[], str], now: float) -> Account:
        with self._write() as db:
            row = self._x(db, "SELECT id, name, created FROM accounts WHERE name = ?", (name,)).fetchone()
            if row is None:
                row = (new_id(), name, now)
                self._x(db, "INSERT INTO accounts VALUES (?, ?, ?)", row)
        return Account(*row)

    def account_by_name(self, name: str) -> Account | None:
        with self._read() as db:
            row = self._x(db, "SELECT id, name, created FROM accounts WHERE name = ?", (name,)).fetchone()
        return None if row is None else Account(*row)

    def list_accounts(self) -> list[Account]:
        with self._read() as db:
            rows = self._x(db, "SELECT id, name, created FROM accounts ORDER BY created, id").fetchall()
        return [Account(*row) for row in rows]

    def add_key(self, key: KeyRecord) -> None:
        with self._write() as db:
            self._insert_key(db, key)

    def add_first_key(self, key: KeyRecord) -> bool:
        with self._write() as db:
            # Serialise first starts: in PostgreSQL two transactions could both see no key otherwise.
            self._lock_migrations(db)
            if self._x(db, "SELECT 1 FROM api_keys LIMIT 1").fetchone() is not None:
                return False
            self._insert_key(db, key)
            return True

    def _insert_key(self, db: Connection, key: KeyRecord) -> None:
        self._x(
            db,
            "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?)",
            (key.hash, key.account_id, key.label, json.dumps(key.scopes), key.created, key.revoked),
        )

    @staticmethod
    def _key(row: Sequence[Any]) -> KeyRecord:
        return KeyRecord(row[0], row[1], row[2], tuple(json.loads(row[3])), row[4], row[5])

    _KEY_COLUMNS = "hash, account_id, label, scopes, created, revoked"

    def key_by_hash(self, key_hash: str) -> KeyRecord | None:
        with self._read() as db:
            row = self._x(db, f"SELECT {self._KEY_COLUMNS} FROM api_keys WHERE hash = ?", (key_hash,)).fetchone()
        return None if row is None else self._key(row)

    def list_keys(self) -> list[KeyRecord]:
        with self._read() as db:
            rows = self._x(db, f"SELECT {self._KEY_COLUMNS} FROM api_keys ORDER BY created, hash").fetchall()
        return [self._key(row) for row in rows]

    def revoke_key(self, key_hash: str, now: float) -> bool:
        with self._write() as db:
            cursor = self._x(db, "UPDATE api_keys SET revoked = ? WHERE hash = ? AND revoked IS NULL", (now, key_hash))
            return cursor.rowcount == 1

    # Profiles

    def get_profile(self, account_id: str, profile_id: str) -> Profile | None:
        with self._read() as db:
            return self._load(db, account_id, profile_id, lock=False)

    def _load(self, db: Connection, account_id: str, profile_id: str, *, lock: bool = True) -> Profile | None:
        sql = f"SELECT {self.BODY_OUT} FROM profiles WHERE account_id = ? AND id = ?"
        row = self._x(db, sql + (self.FOR_UPDATE if lock else ""), (account_id, profile_id)).fetchone()
        return None if row is None else _decode(row[0])

    def _identifier_keys(self, profile: Profile) -> dict[str, str]:
        return identifier_keys(profile, external_id_unique=self.external_id_unique)

    def _holder(
        self, db: Connection, account_id: str, new: Profile, new_keys: dict[str, str], old_keys: dict[str, str]
    ) -> str | None:
        """The other profile that holds one of `new`'s identifiers (those not in `old_keys` already), by
        priority; None if none does."""
        for name in IDENTIFIERS:
            value = new_keys.get(name)
            if value is None or old_keys.get(name) == value:
                continue
            row = self._x(
                db,
                f"SELECT id FROM profiles WHERE account_id = ? AND {name}_key = ? AND id != ?",
                (account_id, value, new.id),
            ).fetchone()
            if row is not None:
                return str(row[0])
        return None

    def _check_unique(
        self, db: Connection, account_id: str, new: Profile, new_keys: dict[str, str], old_keys: dict[str, str]
    ) -> None:
        holder = self._holder(db, account_id, new, new_keys, old_keys)
        if holder is not None:
            raise DuplicateProfile(holder)

    def _row(self, profile: Profile, *, body: bool = True, keys: dict[str, str] | None = None) -> dict[str, Any]:
        keys = self._identifier_keys(profile) if keys is None else keys
        row: dict[str, Any] = {f"{name}_key": keys.get(name) for name in IDENTIFIERS}
        row.update(external_id=profile.external_id, created=profile.created, updated=profile.updated)
        row["email_sort"] = keys.get("email", "")
        if body:
            row["body"] = self._body(profile)
        return row

    def _body(self, profile: Profile) -> Any:
        return _encode(profile)

    def _marks(self, row: dict[str, Any]) -> list[str]:
        return [self.BODY_IN if name == "body" else "?" for name in row]

    def _insert(self, db: Connection, account_id: str, profile: Profile) -> None:
        keys = self._identifier_keys(profile)
        self._check_unique(db, account_id, profile, keys, {})
        row = {"account_id": account_id, "id": profile.id, **self._row(profile, keys=keys)}
        sql = f"INSERT INTO profiles ({', '.join(row)}) VALUES ({', '.join(self._marks(row))})"
        self._x(db, sql, tuple(row.values()))

    def _replace(self, db: Connection, account_id: str, old: Profile, new: Profile) -> Profile:
        if new == old:
            return old
        old_keys, new_keys = self._identifier_keys(old), self._identifier_keys(new)
        same_keys = old_keys == new_keys
        if not same_keys:  # an identifier it kept is its own already: only a new one can be someone else's
            self._check_unique(db, account_id, new, new_keys, old_keys)
        # Only the columns whose values change, so the database leaves the indexes of the others alone.
        if same_keys and old.created == new.created and old.external_id == new.external_id:
            sql = f"UPDATE profiles SET updated = ?, body = {self.BODY_IN} WHERE account_id = ? AND id = ?"
            self._x(db, sql, (new.updated, self._body(new), account_id, old.id))
            return new
        before = self._row(old, body=False, keys=old_keys)
        row = self._row(new, keys=new_keys)
        changed = {name: value for name, value in row.items() if name == "body" or before.get(name) != value}
        assignments = ", ".join(f"{name} = {mark}" for name, mark in zip(changed, self._marks(changed), strict=True))
        self._x(
            db,
            f"UPDATE profiles SET {assignments} WHERE account_id = ? AND id = ?",
            (*changed.values(), account_id, old.id),
        )
        return new

    def _duplicate(self, account_id: str, profile: Profile, error: Exception) -> Exception:
        """After a constraint refused `profile`: the 409 naming the holder the check could not see, or,
        when no profile holds its identifiers (another constraint failed), the error itself."""
        with self._read() as db:
            holder = self._holder(db, account_id, profile, self._identifier_keys(profile), {})
        return error if holder is None else DuplicateProfile(holder)

    def create_profile(self, account_id: str, profile: Profile) -> Profile:
        try:
            with self._write(one_statement=True) as db:
                self._insert(db, account_id, profile)
        except self.UNIQUE_VIOLATION as error:
            raise self._duplicate(account_id, profile, error) from None
        return profile

    def update_profile(self, account_id: str, profile_id: str, change: Callable[[Profile], Profile]) -> Profile:
        new: Profile | None = None
        try:
            with self._write(one_statement=True) as db:
                old = self._load(db, account_id, profile_id)
                if old is None:
                    raise profile_not_found(profile_id)
                new = change(old)
                return self._replace(db, account_id, old, new)
        except self.UNIQUE_VIOLATION as error:
            assert new is not None
            raise self._duplicate(account_id, new, error) from None

    def import_profile(
        self,
        account_id: str,
        profile_id: str | None,
        identifiers: dict[str, str],
        build: Callable[[Profile | None], Profile],
    ) -> tuple[Profile, bool]:
        # A concurrent import of the same new identifiers may insert between our lookup and our insert;
        # the retry then finds that profile and updates it, as if the two had come one after the other.
        attempts = 3
        for attempt in range(1, attempts + 1):
            new: Profile | None = None
            creating = False
            try:
                with self._write(one_statement=True) as db:
                    if profile_id is not None:
                        old = self._load(db, account_id, profile_id)
                        if old is None:
                            raise profile_not_found(profile_id)
                    else:
                        old = self._resolve(db, account_id, identifiers)
                    new = build(old)
                    if old is None:
                        creating = True
                        self._insert(db, account_id, new)
                        return new, True
                    return self._replace(db, account_id, old, new), False
            except DuplicateProfile:
                if not creating or attempt == attempts:
                    raise
            except self.UNIQUE_VIOLATION as error:
                assert new is not None
                if attempt == attempts:
                    raise self._duplicate(account_id, new, error) from None
        raise AssertionError("unreachable")

    def _resolve(self, db: Connection, account_id: str, identifiers: dict[str, str]) -> Profile | None:
        found: list[str] = []
        for name, value in identifiers.items():
            row = self._x(
                db,
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
            # Lock the two rows in one order, so two merges of the same pair cannot deadlock.
            first, second = sorted((destination_id, source_id))
            loaded = {first: self._load(db, account_id, first), second: self._load(db, account_id, second)}
            destination, source = loaded[destination_id], loaded[source_id]
            if destination is None or source is None:
                raise profile_not_found(destination_id if destination is None else source_id)
            self._x(db, "DELETE FROM profiles WHERE account_id = ? AND id = ?", (account_id, source_id))
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
            f"SELECT {self.BODY_OUT} FROM profiles WHERE {' AND '.join(conditions)}"
            f" ORDER BY {_SQL.order(sort, backwards)} LIMIT {int(limit)}"
        )
        with self._read() as db:
            rows = self._x(db, sql, params).fetchall()
        return [_decode(row[0]) for row in rows]

    def reset(self, account_id: str | None = None) -> None:
        with self._write() as db:
            if account_id is None:
                self._x(db, "DELETE FROM profiles")
            else:
                self._x(db, "DELETE FROM profiles WHERE account_id = ?", (account_id,))
