"""Checkpoints on a thread of the server's own (storage/checkpoints.py) and the drain that lets the WAL
restart (storage/wal_drain.py), on real files and real servers.

What a test can see from outside: the database file grows when pages are copied back into it, which
SQLite alone does only once the WAL passes a thousand pages; the WAL file stops growing when the WAL
restarts from its beginning; a drain's gate (`write_gate()`), and which requests are answered while it
is closed; and the thread is gone when the server stops.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import asgi
import pytest
from client import Api, Reply

from localviyo import ManualClock, Settings, accounts, create_app
from localviyo.app import LocalviyoApp
from localviyo.core.document import Changes
from localviyo.core.keys import FULL_ACCESS
from localviyo.storage.checkpoints import Checkpointer, round_rows
from localviyo.storage.sqlite import SQLiteStore
from localviyo.storage.wal_drain import AUTOCHECKPOINT, WalDrain
from localviyo.testing import ServerThread

PAGE = 4096
NOTE = "x" * 3000  # a profile of about a page
WAL_LIMIT = 1000  # the stores' here, so that a few thousand writes pass it (the default is 16,000)
ROUND = round_rows(WAL_LIMIT)  # rows between two of the thread's checkpoints, for such a store


def _wal_pages(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size // PAGE if wal.exists() else 0


def _checkpoint_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "localviyo-checkpoints")


class Served:
    def __init__(self, path: Path, checkpoints: str) -> None:
        self.path = path
        self.store = SQLiteStore(str(path), checkpoints=checkpoints, wal_limit=WAL_LIMIT)
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


def _stored(path: Path, table: str = "profiles") -> int:
    """Rows (profiles) another connection to the file sees."""
    with sqlite3.connect(path) as other:
        count: int = other.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    other.close()
    return count


def test_the_thread_copies_pages_back_long_before_sqlite_would(serve: Serve) -> None:
    thread, inline = serve("thread"), serve("inline")
    sizes = {"thread": thread.path.stat().st_size, "inline": inline.path.stat().st_size}
    for each in (thread, inline):
        each.create(ROUND + ROUND // 2)  # a round and a half: about 780 WAL pages
        assert each.store.settle()
        assert _wal_pages(each.path) < 1000  # below SQLite's own checkpoint: it has not copied anything
    assert inline.path.stat().st_size == sizes["inline"]  # every new page still only in the WAL
    assert thread.path.stat().st_size >= sizes["thread"] + ROUND * PAGE  # copied back by the thread
    assert _stored(thread.path) == _stored(inline.path) == ROUND + ROUND // 2


def test_the_wal_restarts_under_concurrent_writes(serve: Serve) -> None:
    """Many more pages written than the WAL may hold: it must start over rather than grow with them."""
    thread = serve("thread")
    writers, each = 6, 400  # 2,400 profiles of two pages each, and their index pages: past WAL_LIMIT
    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(lambda number: thread.create(each, prefix=f"w{number}-", note=NOTE * 2), range(writers)))
    assert thread.store.settle()
    written = thread.path.stat().st_size // PAGE
    assert written > WAL_LIMIT
    assert _wal_pages(thread.path) <= WAL_LIMIT + 500, (_wal_pages(thread.path), written)  # SQLite's: 4,000
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


class _InProcess:
    """A store with `count` profiles and the app over it, driven over ASGI on the test's own loop."""

    def __init__(self, path: Path, wal_limit: int, count: int) -> None:
        self.path = path
        self.store = SQLiteStore(str(path), wal_limit=wal_limit)
        clock = ManualClock(1_794_830_400.0)
        self.app = create_app(Settings(rate_limits="off"), store=self.store, clock=clock)
        self.key = accounts.create_key(self.store, clock, account="main", scopes=(FULL_ACCESS,))
        account = self.store.account_by_name("main")
        assert account is not None
        self.ids = [
            self.app.service.create_profile(account.id, Changes(attributes={"email": f"p{n}@example.com"})).id
            for n in range(count)
        ]

    def close(self) -> None:
        self.store.close()


def test_under_steady_load_the_wal_restarts_at_its_limit(tmp_path: Path) -> None:
    """Writes in every turn of the loop, as under load: each batch begins as soon as the one before has
    committed, before the thread can have copied it, so the WAL never restarts by itself. It restarts
    when the store drains it at its limit (SQLite's own checkpoint waits for AUTOCHECKPOINT times that)."""
    loaded = _InProcess(tmp_path / "load.db", WAL_LIMIT, 320)
    largest = 0

    async def scenario() -> None:
        nonlocal largest
        requests: list[asyncio.Task[Reply]] = []
        for turn in range(160):  # 5,120 updates of about a page each, 32 more every turn
            batch = loaded.ids[(turn % 10) * 32 : (turn % 10) * 32 + 32]
            requests += [asyncio.create_task(_note(loaded.app, loaded.key, pid, f"{turn}{NOTE}")) for pid in batch]
            await asyncio.sleep(0)
            largest = max(largest, _wal_pages(loaded.path))
        replies = await asyncio.gather(*requests)
        assert [reply.status for reply in replies] == [200] * len(requests)

    asgi.serving(loaded.app, scenario)
    loaded.close()
    assert largest <= 2 * WAL_LIMIT < AUTOCHECKPOINT * WAL_LIMIT, largest  # it would hold every frame: 5,000+


class _Pinned(_InProcess):
    """A store whose WAL another program's read transaction pins: the thread cannot copy all of it
    back, so a drain that begins lasts until its timeout."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, wal_limit=100, count=32)
        self.reader = sqlite3.connect(path, isolation_level=None)

    def pin(self) -> None:
        self.reader.execute("BEGIN")
        self.reader.execute("SELECT count(*) FROM profiles").fetchone()

    async def drain(self) -> asyncio.Future[None]:
        """Write until the store drains its WAL; its gate."""
        for turn in range(40):
            replies = await asyncio.gather(*(_note(self.app, self.key, pid, f"{turn}{NOTE}") for pid in self.ids))
            assert [reply.status for reply in replies] == [200] * len(self.ids)
            await asyncio.sleep(0.01)  # for the thread's report
            gate = self.store.write_gate()
            if gate is not None:
                return gate
        raise AssertionError(f"no drain began; the WAL holds {_wal_pages(self.path)} pages")

    def close(self) -> None:
        self.reader.close()
        super().close()


def test_while_the_wal_drains_writes_wait_and_reads_do_not(tmp_path: Path) -> None:
    pinned = _Pinned(tmp_path / "pinned.db")
    pinned.pin()
    profile_id = pinned.ids[0]

    async def scenario() -> None:
        gate = await pinned.drain()
        write = asyncio.create_task(_note(pinned.app, pinned.key, profile_id, "after the drain"))
        read = await asgi.call(pinned.app, pinned.key, "GET", f"/api/profiles/{profile_id}/")
        assert read.status == 200
        assert not gate.done() and not write.done()  # answered while the write still waits
        assert (await write).status == 200
        assert gate.done()  # the timeout opened it: the pinned frames could not be copied

    asgi.serving(pinned.app, scenario)
    pinned.close()
    with sqlite3.connect(pinned.path) as check:
        body = check.execute("SELECT body FROM profiles WHERE id = ?", (profile_id,)).fetchone()[0]
    check.close()
    assert b"after the drain" in body


def test_a_server_that_stops_lets_the_writes_it_holds_back_go(tmp_path: Path) -> None:
    pinned = _Pinned(tmp_path / "stopping.db")
    pinned.pin()

    async def scenario() -> None:
        gate = await pinned.drain()
        write = asyncio.create_task(_note(pinned.app, pinned.key, pinned.ids[0], "at the stop"))
        await asyncio.sleep(0)
        pinned.store.stop_serving()  # what the app's lifespan does when the server stops
        assert gate.done()
        assert (await write).status == 200

    asgi.serving(pinned.app, scenario)
    pinned.close()


class _Reports:
    """What a checkpoint thread reports: (pages in the WAL, pages copied back, token), in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, int]] = []
        self._arrived = threading.Condition()

    def __call__(self, pages: int, copied: int, token: int) -> None:
        with self._arrived:
            self.seen.append((pages, copied, token))
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.seen) >= count, timeout)


class _Rounds:
    """A file in WAL mode, a writer, and a checkpoint thread told of each round of ROUND rows it writes."""

    def __init__(self, path: Path, idle: float | None) -> None:
        self.path = path
        self.writer = sqlite3.connect(path, isolation_level=None)
        self.writer.execute("PRAGMA journal_mode = WAL")
        self.writer.execute("CREATE TABLE notes (body TEXT)")
        self.reports = _Reports()
        self.thread = Checkpointer(str(path), 1, self.reports, limit=WAL_LIMIT, idle=idle)

    def write(self) -> None:
        self.writer.execute("BEGIN")
        self.writer.executemany("INSERT INTO notes VALUES (?)", [(NOTE,)] * ROUND)
        self.writer.execute("COMMIT")
        self.thread.committed(ROUND)
        assert self.thread.settle()

    def close(self) -> None:
        self.thread.close()
        self.writer.close()


def test_the_threads_checkpoints_stop_a_round_short_until_the_whole_wal_is_asked_for(tmp_path: Path) -> None:
    """The thread holds a read at the WAL's end as each checkpoint begins, so the next one copies up to
    there and no further: it never copies every frame under load, and so never makes SQLite sync the
    database file. A checkpoint of the whole WAL lets go and copies it all; the next write restarts it."""
    rounds = _Rounds(tmp_path / "rounds.db", idle=None)
    try:
        for _ in range(4):
            rounds.write()
        seen = rounds.reports.seen
        assert len(seen) == 4
        assert seen[0][0] == seen[0][1]  # nothing held yet: the first copies everything
        for (pages_before, _, _), (pages, copied, token) in pairwise(seen):
            assert copied == pages_before < pages, seen  # up to where the round before ended
            assert token == 0
        rounds.thread.request(7)
        assert rounds.thread.settle()
        pages, copied, token = seen[-1]
        assert (copied, token) == (pages, 7)
        rounds.write()  # begins with every frame copied back: the WAL starts over
        assert seen[-1][0] < pages / 2, seen
        assert _stored(rounds.path, "notes") == 5 * ROUND
    finally:
        rounds.close()


def test_a_flush_copies_the_whole_wal_back_and_the_next_write_restarts_it(tmp_path: Path) -> None:
    """A drain's flush does not stop a round short: it lets go of the pins and copies every frame (and
    syncs the file), so that the checkpoint the drain makes with writes held back has little left."""
    rounds = _Rounds(tmp_path / "flush.db", idle=None)
    try:
        for _ in range(3):
            rounds.write()
        seen = rounds.reports.seen
        pages, copied, _ = seen[-1]
        assert copied < pages  # a round held back
        rounds.thread.flush(9)
        assert rounds.thread.settle()
        assert seen[-1] == (pages, pages, 9)
        rounds.write()
        assert seen[-1][0] < pages / 2, seen  # the WAL started over
    finally:
        rounds.close()


def test_when_writes_stop_the_thread_copies_the_rest_back_and_the_wal_restarts(tmp_path: Path) -> None:
    """Under light load the WAL stays short: once no checkpoint has been asked for in a while, the thread
    copies what it held back, and the next write starts the WAL over."""
    rounds = _Rounds(tmp_path / "idle.db", idle=0.5)
    try:
        for _ in range(3):
            rounds.write()
        seen = rounds.reports.seen
        pages, copied, _ = seen[2]
        assert copied < pages  # held back a round
        assert rounds.reports.wait_for(4), seen  # nothing asked for: after `idle`, a checkpoint unasked
        assert seen[3][:2] == (pages, pages)  # all of it
        rounds.write()
        assert seen[-1][0] < pages / 2, seen  # the WAL started over
    finally:
        rounds.close()


def test_a_drain_flushes_the_database_file_before_it_holds_writes_back() -> None:
    """The database file's sync, the long part of a drain, happens while writes go on: the gate closes
    only once the thread reports the flush, and opens once it reports the whole WAL copied after the
    last commit. The whole WAL is asked for once, after the batch open when the gate closed commits."""
    flushes: list[int] = []
    wholes: list[int] = []

    async def scenario() -> None:
        drain = WalDrain(asyncio.get_running_loop(), wholes.append, flushes.append, limit=100)

        async def report(pages: int, copied: int, token: int) -> None:
            drain.checkpointed(pages, copied, token)
            await asyncio.sleep(0)  # the report reaches the loop

        await report(70, 60, 0)
        assert (flushes, wholes, drain.gate) == ([], [], None)
        await report(80, 70, 0)  # three quarters of the limit: a flush first, no gate yet
        assert (flushes, wholes, drain.gate) == ([1], [], None)
        await report(150, 80, 0)  # an earlier round's report: still flushing
        drain.committed()  # writes go on meanwhile
        assert (flushes, wholes, drain.gate) == ([1], [], None)
        await report(170, 150, 1)  # flushed: writes are held back
        gate = drain.gate
        assert gate is not None and not gate.done() and wholes == []
        drain.committed()  # the batch open commits at the start of the next turn and asks for the whole WAL
        assert wholes == [3]
        await asyncio.sleep(0)
        assert wholes == [3]  # and only it: one checkpoint, not one before the commit and one after
        drain.committed()  # a write that did not wait (another thread's): its pages too
        assert wholes == [3, 4]
        await report(175, 175, 3)  # copied, but not the last commit
        assert not gate.done()
        await report(180, 180, 4)
        assert gate.done() and drain.gate is None
        await report(205, 200, 0)  # the next drain, from half a limit on
        assert flushes == [1, 5]
        drain.checkpointed(210, 205, 5)  # flushed, with no batch open: the next turn asks for the whole WAL
        drain.checkpointed(212, 212, 5)  # in the same turn, a checkpoint begun before the gate closed, which
        await asyncio.sleep(0)  # found everything copied: not the checkpoint the gate waits for
        assert drain.gate is not None and wholes == [3, 4]
        await asyncio.sleep(0)
        assert drain.gate is not None and wholes == [3, 4, 6]
        await report(215, 215, 6)
        assert drain.gate is None
        drain.close()

    asyncio.run(scenario())
