"""Checkpoints on a thread of the server's own (storage/checkpoints.py), on real files and real servers.

What a test can see from outside: the database file grows when pages are copied back into it, which
SQLite alone does only once the WAL passes a thousand pages; the WAL file stops growing when the WAL
restarts from its beginning; and the thread is gone when the server stops.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asgi
import pytest
from client import Api, Reply

from localviyo import ManualClock, Settings, accounts, create_app
from localviyo.app import LocalviyoApp
from localviyo.core.document import Changes
from localviyo.core.keys import FULL_ACCESS
from localviyo.storage.checkpoints import ROWS, WAL_LIMIT
from localviyo.storage.sqlite import SQLiteStore
from localviyo.testing import ServerThread

PAGE = 4096
NOTE = "x" * 3000  # a profile of about a page


def _wal_pages(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size // PAGE if wal.exists() else 0


def _checkpoint_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "localviyo-checkpoints")


class Served:
    def __init__(self, path: Path, checkpoints: str) -> None:
        self.path = path
        self.store = SQLiteStore(str(path), checkpoints=checkpoints)
        app = create_app(Settings(rate_limits="off"), store=self.store, clock=ManualClock(1_794_830_400.0))
        self.key = accounts.create_key(self.store, ManualClock(0), account="main", scopes=(FULL_ACCESS,))
        self.server = ServerThread(app).start()
        self.api = Api(self.server.url, self.key)

    def create(self, count: int, prefix: str = "p", note: str = NOTE) -> None:
        for number in range(count):
            response = self.api.create_profile(email=f"{prefix}{number}@example.com", properties={"note": note})
            assert response["id"]

    def stop(self) -> None:
        self.api.close()
        self.server.stop()
        self.store.close()


Serve = Callable[[str], Served]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    started: list[Served] = []

    def start(checkpoints: str) -> Served:
        started.append(Served(tmp_path / f"{checkpoints}.db", checkpoints))
        return started[-1]

    yield start
    for each in started:
        each.stop()


def _stored(path: Path) -> int:
    """Profiles another connection to the file sees."""
    with sqlite3.connect(path) as other:
        count: int = other.execute("SELECT count(*) FROM profiles").fetchone()[0]
    other.close()
    return count


def test_the_thread_copies_pages_back_long_before_sqlite_would(serve: Serve) -> None:
    thread, inline = serve("thread"), serve("inline")
    sizes = {"thread": thread.path.stat().st_size, "inline": inline.path.stat().st_size}
    for each in (thread, inline):
        each.create(2 * ROWS)
        assert each.store.settle()
        assert _wal_pages(each.path) < 1000  # below SQLite's own checkpoint: it has not copied anything
    assert inline.path.stat().st_size == sizes["inline"]  # every new page still only in the WAL
    assert thread.path.stat().st_size >= sizes["thread"] + ROWS * PAGE  # copied back by the thread
    assert _stored(thread.path) == _stored(inline.path) == 2 * ROWS


def test_the_wal_restarts_under_concurrent_writes(serve: Serve) -> None:
    """Many more pages written than the WAL may hold: it must start over rather than grow with them."""
    thread = serve("thread")
    writers, each = 6, 400  # 2,400 profiles of two pages each, and their index pages: past WAL_LIMIT
    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(lambda number: thread.create(each, prefix=f"w{number}-", note=NOTE * 2), range(writers)))
    assert thread.store.settle()
    written = thread.path.stat().st_size // PAGE
    assert written > WAL_LIMIT
    assert _wal_pages(thread.path) <= WAL_LIMIT + 500, (_wal_pages(thread.path), written)
    assert _stored(thread.path) == writers * each


def test_the_thread_ends_with_the_server(tmp_path: Path) -> None:
    before = _checkpoint_threads()
    served = Served(tmp_path / "stop.db", "thread")
    assert _checkpoint_threads() == before + 1
    served.server.stop()
    assert _checkpoint_threads() == before
    served.api.close()
    served.store.close()


def test_an_unknown_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="checkpoints='sometimes'"):
        SQLiteStore(str(tmp_path / "x.db"), checkpoints="sometimes")


async def _note(app: LocalviyoApp, key: str, profile_id: str, note: str) -> Reply:
    document = {"data": {"type": "profile", "id": profile_id, "attributes": {"properties": {"note": note}}}}
    return await asgi.call(app, key, "PATCH", f"/api/profiles/{profile_id}/", document)


def test_under_steady_load_the_wal_restarts_at_its_limit(tmp_path: Path) -> None:
    """Batches back to back, as under load: the thread is always a batch behind and never catches up
    between two of them, so the WAL restarts only through SQLite's own checkpoint at WAL_LIMIT."""
    path = tmp_path / "load.db"
    store = SQLiteStore(str(path))
    clock = ManualClock(1_794_830_400.0)
    app = create_app(Settings(rate_limits="off"), store=store, clock=clock)
    key = accounts.create_key(store, clock, account="main", scopes=(FULL_ACCESS,))
    account = store.account_by_name("main")
    assert account is not None
    ids = [
        app.service.create_profile(account.id, Changes(attributes={"email": f"p{n}@example.com"})).id
        for n in range(320)
    ]
    largest = 0

    async def scenario() -> None:
        nonlocal largest
        for turn in range(160):  # 5,120 updates of about a page each, 32 to a batch
            batch = ids[(turn % 10) * 32 : (turn % 10) * 32 + 32]
            replies = await asyncio.gather(*(_note(app, key, pid, f"{turn}{NOTE}") for pid in batch))
            assert [reply.status for reply in replies] == [200] * 32
            largest = max(largest, _wal_pages(path))

    asgi.serving(app, scenario)
    store.close()
    assert largest <= WAL_LIMIT + 1000, largest  # without the restart it would hold every frame: 5,000+
