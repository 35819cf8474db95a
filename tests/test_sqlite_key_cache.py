"""The SQLite store's memory of keys: fresh for every request that was sent after a change.

Another connection (here: a second SQLiteStore on the same file, as `localviyo keys` or another worker
would be) revokes a key. On the thread of the server's event loop (`serve_on`) the store checks for
changes once per turn of the loop; any other thread, or a loop no server runs on, checks on every lookup.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from localviyo.storage.base import KeyRecord
from localviyo.storage.sqlite import SQLiteStore

NOW = 1_700_000_000.0


def _stores(tmp_path: Path) -> tuple[SQLiteStore, SQLiteStore, KeyRecord]:
    path = str(tmp_path / "keys.db")
    server, other = SQLiteStore(path), SQLiteStore(path)
    server.migrate()
    server.ensure_account("main", lambda: "acc1", NOW)
    record = KeyRecord(f"{7:064x}", "acc1", "pk_abc…wxyz", ("*",), NOW, None)
    server.add_key(record)
    return server, other, record


def test_off_the_loop_every_lookup_sees_another_connections_change(tmp_path: Path) -> None:
    server, other, record = _stores(tmp_path)
    assert server.key_by_hash(record.hash) == record
    assert other.revoke_key(record.hash, NOW + 1)
    found = server.key_by_hash(record.hash)
    assert found is not None and found.revoked == NOW + 1


def test_on_the_loop_a_change_is_seen_from_the_next_turn(tmp_path: Path) -> None:
    server, other, record = _stores(tmp_path)

    async def scenario() -> tuple[KeyRecord | None, KeyRecord | None]:
        server.serve_on(asyncio.get_running_loop(), group_commit=False)
        assert server.key_by_hash(record.hash) == record
        other.revoke_key(record.hash, NOW + 1)
        same_turn = server.key_by_hash(record.hash)  # received before the change: may be answered as before
        await asyncio.sleep(0)  # the loop turns; anything received from now on was sent after the change
        return same_turn, server.key_by_hash(record.hash)

    same_turn, next_turn = asyncio.run(scenario())
    assert same_turn == record
    assert next_turn is not None and next_turn.revoked == NOW + 1


def test_own_key_writes_are_seen_at_once_even_within_a_turn(tmp_path: Path) -> None:
    server, _, record = _stores(tmp_path)
    fresh = KeyRecord(f"{8:064x}", "acc1", "pk_def…wxyz", ("*",), NOW, None)

    async def scenario() -> tuple[KeyRecord | None, KeyRecord | None, KeyRecord | None]:
        server.serve_on(asyncio.get_running_loop(), group_commit=False)
        unknown = server.key_by_hash(fresh.hash)
        server.add_key(fresh)
        created = server.key_by_hash(fresh.hash)
        server.revoke_key(record.hash, NOW + 2)
        return unknown, created, server.key_by_hash(record.hash)

    unknown, created, revoked = asyncio.run(scenario())
    assert unknown is None
    assert created == fresh
    assert revoked is not None and revoked.revoked == NOW + 2


def test_on_a_loop_no_server_runs_on_every_lookup_sees_another_connections_change(tmp_path: Path) -> None:
    server, other, record = _stores(tmp_path)

    async def scenario() -> KeyRecord | None:
        assert server.key_by_hash(record.hash) == record
        other.revoke_key(record.hash, NOW + 1)
        return server.key_by_hash(record.hash)  # the same turn, but no server's loop: checked again

    found = asyncio.run(scenario())
    assert found is not None and found.revoked == NOW + 1
