"""What a serving SQLite connection changes about itself, through a real server: the page cache grows to
`SERVING_CACHE_KIB` while it serves (bench/ROUNDS.md, fifteenth round) and is SQLite's default again after;
and once the server stops, the thread that ran it is an ordinary caller again."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import asgi

from localviyo import ManualClock, Settings, create_app
from localviyo.storage.sqlite import SERVING_CACHE_KIB, SQLiteStore
from localviyo.testing import ServerThread

DEFAULT_CACHE_KIB = 2000  # SQLite's own default page cache, which a connection starts with


def _cache_kib(store: SQLiteStore) -> int:
    with store._read() as db:
        pages: int = db.execute("PRAGMA cache_size").fetchone()[0]
    return -pages  # a negative cache_size is KiB


def test_a_serving_connection_has_the_larger_page_cache_until_the_server_stops(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "cache.db"))
    try:
        assert _cache_kib(store) == DEFAULT_CACHE_KIB
        server = ServerThread(create_app(Settings(rate_limits="off"), store=store, clock=ManualClock(0))).start()
        try:
            assert _cache_kib(store) == SERVING_CACHE_KIB == 32 * 1024
        finally:
            server.stop()
        assert _cache_kib(store) == DEFAULT_CACHE_KIB
    finally:
        store.close()


def test_the_thread_that_ran_a_server_uses_the_store_like_any_other_once_it_stops(tmp_path: Path) -> None:
    """The app's lifespan on this thread's own event loop (group commit, turn reads), then plain calls on
    the same thread: they must not be routed to the finished loop (they failed with "Event loop is
    closed" before stop_serving let go of it), and what they write is committed for everyone."""
    path = tmp_path / "after.db"
    store = SQLiteStore(str(path))
    try:
        app = create_app(Settings(rate_limits="off"), store=store, clock=ManualClock(0))

        async def scenario() -> list[str]:
            return [account.name for account in store.list_accounts()]

        assert asgi.serving(app, scenario) == []
        assert store.pending_commit() is None
        account = store.ensure_account("after", lambda: "acct-after", 1.0)
        assert [found.name for found in store.list_accounts()] == ["after"]
        with closing(sqlite3.connect(path)) as other:
            assert other.execute("SELECT id FROM accounts WHERE name = 'after'").fetchall() == [(account.id,)]
    finally:
        store.close()


def test_a_write_in_the_turn_the_server_stops_is_committed_by_the_stop(tmp_path: Path) -> None:
    """A batch still open when the store stops serving (the write and the stop in one turn of the loop,
    before the batch's own commit could run) is committed there, and whoever waits for it hears so."""
    path = tmp_path / "last.db"
    store = SQLiteStore(str(path))
    loop = asyncio.new_event_loop()
    try:
        store.migrate()
        store.serve_on(loop, group_commit=True)  # on this thread: its calls here join batches
        store.ensure_account("last", lambda: "acct-last", 1.0)
        batch = store.pending_commit()
        assert batch is not None and not batch.done()
        with closing(sqlite3.connect(path)) as other:
            assert other.execute("SELECT count(*) FROM accounts").fetchone() == (0,)  # not yet committed
        store.stop_serving()
        assert batch.done() and batch.exception() is None
        with closing(sqlite3.connect(path)) as other:
            assert other.execute("SELECT name FROM accounts").fetchall() == [("last",)]
    finally:
        store.close()
        loop.close()
