"""What a serving SQLite connection changes about itself, through a real server: the page cache grows to
`SERVING_CACHE_KIB` while it serves (bench/README.md, fifteenth round) and is SQLite's default again after."""

from __future__ import annotations

from pathlib import Path

from localviyo import ManualClock, Settings, create_app
from localviyo.storage.sqlite import DEFAULT_CACHE_KIB, SERVING_CACHE_KIB, SQLiteStore
from localviyo.testing import ServerThread


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
