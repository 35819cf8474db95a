"""Group commit (storage/group_commit.py): the writes of a few turns of the event loop share one COMMIT.

The app is driven in-process over ASGI on a real SQLite file, so that several requests deterministically
run in one turn of the loop (asyncio.gather starts them all before any of them can be answered). What
each test asserts is what a client or another connection to the file can see: no answer before its write
is committed, each request as atomic as with a transaction of its own, and a failed COMMIT answered as a
500 to every request of its batch, with nothing of the batch stored.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asgi
import msgspec
import pytest
from asgi import Probe
from client import Api, Reply
from conftest import Live
from expected import assert_error, duplicate, not_found, server_error

from localviyo import ManualClock, Settings, accounts, create_app
from localviyo.app import LocalviyoApp
from localviyo.core.document import Changes
from localviyo.core.keys import FULL_ACCESS
from localviyo.core.profile import Profile
from localviyo.storage.group_commit import OPEN_TURNS, CommitFailed, GroupCommit
from localviyo.storage.sqlite import SQLiteStore

START = 1_794_830_400.0  # 2026-11-16T12:00:00Z, after every revision the tests send


@dataclass
class Harness:
    path: Path
    app: LocalviyoApp
    key: str
    account_id: str
    ids: dict[str, str] = field(default_factory=dict)  # first name -> profile id

    def committed_first_names(self) -> dict[str, str | None]:
        """What another connection to the file sees: profile id -> first_name."""
        with sqlite3.connect(self.path) as other:
            rows = other.execute("SELECT id, body FROM profiles").fetchall()
        return {row[0]: json.loads(row[1])["first_name"] for row in rows}

    async def call(self, method: str, path: str, document: Any = None, probe: Probe | None = None) -> Reply:
        return await asgi.call(self.app, self.key, method, path, document, probe)

    async def rename(self, profile_id: str, first_name: str, probe: Probe | None = None, **more: Any) -> Reply:
        document = {"data": {"type": "profile", "id": profile_id, "attributes": {"first_name": first_name, **more}}}
        return await self.call("PATCH", f"/api/profiles/{profile_id}/", document, probe)


def _harness(tmp_path: Path, *, group_commit: bool = True, names: tuple[str, ...] = ("ann", "bob", "cat")) -> Harness:
    path = tmp_path / "localviyo.db"
    store = SQLiteStore(str(path))
    clock = ManualClock(START)
    app = create_app(Settings(rate_limits="off", group_commit=group_commit), store=store, clock=clock)
    key = accounts.create_key(store, clock, account="main", scopes=(FULL_ACCESS,))
    account = store.account_by_name("main")
    assert account is not None
    harness = Harness(path, app, key, account.id)
    for name in names:
        changes = Changes(attributes={"email": f"{name}@example.com", "first_name": name})
        harness.ids[name] = app.service.create_profile(account.id, changes).id
    return harness


def _serving(harness: Harness, scenario: Callable[[], Awaitable[Any]]) -> Any:
    """Run `scenario` on an event loop where the app has started (its lifespan turns group commit on)."""
    return asgi.serving(harness.app, scenario)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    harness = _harness(tmp_path)
    yield harness
    harness.app.store.close()


def test_no_answer_leaves_before_its_write_is_committed_and_one_turn_shares_one_commit(harness: Harness) -> None:
    seen_at_answer: list[dict[str, str | None]] = []

    def probe(status: int) -> None:
        seen_at_answer.append(harness.committed_first_names())

    async def scenario() -> list[Reply]:
        return await asyncio.gather(*(harness.rename(pid, f"{name}-2", probe) for name, pid in harness.ids.items()))

    replies = _serving(harness, scenario)
    assert [reply.status for reply in replies] == [200, 200, 200]
    everything = {pid: f"{name}-2" for name, pid in harness.ids.items()}
    # Even the first answer found all three writes committed: they were committed together, before it.
    assert seen_at_answer == [everything, everything, everything]


def test_a_batch_stays_open_for_its_turns_and_the_writes_they_run_share_its_commit(tmp_path: Path) -> None:
    names = ("ann", "bob", "cat", "dan", "eve")[: OPEN_TURNS + 1]
    harness = _harness(tmp_path, names=names)
    store = harness.app.store
    assert isinstance(store, SQLiteStore)
    ids, committed = harness.ids, harness.committed_first_names
    commits: list[str] = []

    def rename(name: str) -> None:
        store.update_profile(harness.account_id, ids[name], lambda old: _renamed(old, f"{name}-2"))

    async def scenario() -> tuple[list[dict[str, str | None]], dict[str, str | None]]:
        store._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
        try:
            seen_before: list[dict[str, str | None]] = []
            rename(names[0])  # opens a batch
            batch = store.pending_commit()
            assert batch is not None
            for name in names[1:OPEN_TURNS]:
                await asyncio.sleep(0)  # another turn: the batch is still open, and this write joins it
                rename(name)
                assert store.pending_commit() is batch
                seen_before.append(committed())
            await asyncio.sleep(0)  # the turn after its last: it was committed first, and this write opens another
            assert batch.done() and batch.exception() is None
            seen_after = committed()
            rename(names[OPEN_TURNS])
            later = store.pending_commit()
            assert later is not None and later is not batch
            await later
            return seen_before, seen_after
        finally:
            store._db.set_trace_callback(None)

    seen_before, seen_after = _serving(harness, scenario)
    store.close()
    original = {pid: name for name, pid in ids.items()}
    assert seen_before == [original] * (OPEN_TURNS - 1)  # nothing of the open batch seen from outside
    batched = {ids[name]: f"{name}-2" for name in names[:OPEN_TURNS]}
    assert seen_after == {**original, **batched}
    assert committed() == {pid: f"{name}-2" for name, pid in ids.items()}
    assert commits == ["COMMIT", "COMMIT"]  # the batch's turns' writes in one, the next turn's in another


def test_with_group_commit_off_each_write_is_committed_on_its_own(tmp_path: Path) -> None:
    harness = _harness(tmp_path, group_commit=False)
    seen_at_answer: list[dict[str, str | None]] = []

    async def scenario() -> list[Reply]:
        probe: Probe = lambda status: seen_at_answer.append(harness.committed_first_names())  # noqa: E731
        return await asyncio.gather(*(harness.rename(pid, f"{name}-2", probe) for name, pid in harness.ids.items()))

    replies = _serving(harness, scenario)
    harness.app.store.close()
    assert [reply.status for reply in replies] == [200, 200, 200]
    ann, bob, cat = harness.ids.values()
    assert [answer[ann] for answer in seen_at_answer] == ["ann-2", "ann-2", "ann-2"]
    assert [answer[bob] for answer in seen_at_answer] == ["bob", "bob-2", "bob-2"]
    assert [answer[cat] for answer in seen_at_answer] == ["cat", "cat", "cat-2"]


def test_requests_that_fail_leave_the_rest_of_their_batch_alone(harness: Harness) -> None:
    ann, bob, cat = harness.ids.values()
    missing = "01HZZZZZZZZZZZZZZZZZZZZZZZ"

    async def scenario() -> Sequence[Reply]:
        return await asyncio.gather(
            harness.rename(ann, "ann-2"),
            harness.rename(missing, "nobody"),
            harness.rename(bob, "bob-2", email="cat@example.com"),  # cat's email: 409
            harness.rename(cat, "cat-2"),
        )

    done, absent, taken, last = _serving(harness, scenario)
    assert (done.status, last.status) == (200, 200)
    assert_error(absent, 404, not_found(missing))
    assert_error(taken, 409, duplicate(cat))
    assert harness.committed_first_names() == {ann: "ann-2", bob: "bob", cat: "cat-2"}


def test_a_write_that_fails_halfway_is_undone_and_the_batch_goes_on(harness: Harness) -> None:
    """A merge deletes its source before it combines the two; failing then, the deletion is undone too."""
    store = harness.app.store
    ann, bob, cat = harness.ids.values()

    def failing_merge(destination: Profile, source: Profile) -> Profile:
        raise RuntimeError("the merge gives up after the source was deleted")

    async def scenario() -> None:
        store.update_profile(harness.account_id, ann, lambda old: _renamed(old, "ann-2"))
        with pytest.raises(RuntimeError):
            store.merge_profiles(harness.account_id, bob, cat, failing_merge)
        store.update_profile(harness.account_id, cat, lambda old: _renamed(old, "cat-2"))
        pending = store.pending_commit()
        assert pending is not None  # all three in the batch of this turn
        await pending

    _serving(harness, scenario)
    assert harness.committed_first_names() == {ann: "ann-2", bob: "bob", cat: "cat-2"}


def _refuse_updates_to(path: Path, first_name: str, *, after_writing_elsewhere: bool) -> None:
    """A trigger that aborts the UPDATE giving a profile `first_name` (after writing a row elsewhere)."""
    when = "AFTER" if after_writing_elsewhere else "BEFORE"
    write = "INSERT INTO side VALUES ('written');" if after_writing_elsewhere else ""
    with sqlite3.connect(path) as db:
        db.executescript(
            f"""
            CREATE TABLE side (note TEXT);
            CREATE TRIGGER refuse {when} UPDATE ON profiles
                WHEN json_extract(NEW.body, '$.first_name') = '{first_name}'
                BEGIN {write} SELECT RAISE(ABORT, 'refused'); END;
            """
        )


def _rename_three(harness: Harness, middle: str) -> Sequence[Reply]:
    ann, bob, cat = harness.ids.values()

    async def scenario() -> Sequence[Reply]:
        return await asyncio.gather(
            harness.rename(ann, "ann-2"), harness.rename(bob, middle), harness.rename(cat, "cat-2")
        )

    replies: Sequence[Reply] = _serving(harness, scenario)
    return replies


def test_an_update_its_own_statement_refuses_leaves_the_batch_alone(harness: Harness) -> None:
    """An update opens no savepoint: it changes the file with one statement, which SQLite undoes by itself
    when it fails, and the batch it ran in goes on."""
    _refuse_updates_to(harness.path, "refused", after_writing_elsewhere=False)
    before, refused, after = _rename_three(harness, "refused")
    assert (before.status, after.status) == (200, 200)
    assert_error(refused, 500, server_error())  # a constraint, but no identifier taken: not a 409
    ann, bob, cat = harness.ids.values()
    assert harness.committed_first_names() == {ann: "ann-2", bob: "bob", cat: "cat-2"}


def test_a_refused_update_that_had_changed_rows_takes_its_batch_down_rather_than_keep_half_of_it(
    harness: Harness,
) -> None:
    """Whether an update's statement changed anything is told by the connection's count of changed rows,
    which counts a trigger's rows even when the statement then fails. So an update whose trigger wrote
    before refusing it counts as changed, and, with no savepoint to roll back to, its whole batch is rolled
    back and answered 500: more than needed (SQLite did undo the statement), never less; the next write
    starts a batch of its own. localviyo's schema has no triggers: only one added to the file costs this."""
    _refuse_updates_to(harness.path, "refused", after_writing_elsewhere=True)
    lost, refused, after = _rename_three(harness, "refused")
    assert_error(lost, 500, server_error())
    assert_error(refused, 500, server_error())
    assert after.status == 200
    ann, bob, cat = harness.ids.values()
    assert harness.committed_first_names() == {ann: "ann", bob: "bob", cat: "cat-2"}
    with sqlite3.connect(harness.path) as db:
        assert db.execute("SELECT count(*) FROM side").fetchone() == (0,)


def test_a_one_statement_write_opens_no_savepoint_and_failing_after_its_statement_loses_its_batch(
    tmp_path: Path,
) -> None:
    """GroupCommit itself: a write that promised one statement and fails after it cannot be undone alone,
    so the whole batch is rolled back and everyone of it hears CommitFailed; one that fails before it
    changed anything, or whose statement a unique index refuses (SQLite undoes that statement), leaves
    the batch alone."""
    db = sqlite3.connect(tmp_path / "group.db", isolation_level=None, check_same_thread=False)
    db.execute("CREATE TABLE names (name TEXT)")
    db.execute("CREATE UNIQUE INDEX names_unique ON names (name)")
    statements: list[str] = []
    db.set_trace_callback(statements.append)

    async def scenario() -> None:
        group = GroupCommit(db, threading.RLock(), asyncio.get_running_loop())
        with group.write(one_statement=True) as write:
            write.execute("INSERT INTO names VALUES ('first')")
        batch = group.open
        assert batch is not None
        with pytest.raises(ValueError), group.write(one_statement=True) as write:
            raise ValueError("refused before its statement")
        with pytest.raises(sqlite3.IntegrityError), group.write(one_statement=True) as write:
            write.execute("INSERT INTO names VALUES ('first')")
        assert group.open is batch
        assert write.execute("SELECT name FROM names").fetchall() == [("first",)]
        with pytest.raises(CommitFailed), group.write(one_statement=True) as write:
            write.execute("INSERT INTO names VALUES ('second')")
            raise ValueError("failed after its statement")
        assert group.open is None
        with pytest.raises(CommitFailed):
            await batch
        with group.write() as write:
            write.execute("INSERT INTO names VALUES ('third')")
        later = group.open
        assert later is not None
        await later

    asyncio.run(scenario())
    assert db.execute("SELECT name FROM names").fetchall() == [("third",)]
    assert [sql for sql in statements if "SAVEPOINT" in sql or "RELEASE" in sql] == [
        "SAVEPOINT write",
        "RELEASE write",
    ]
    db.close()


def _doom_commits_of(path: Path, first_name: str) -> None:
    """Make any transaction that gives a profile `first_name` fail at its COMMIT, not before: a deferred
    foreign key that the trigger's row breaks is checked only then."""
    with sqlite3.connect(path) as db:
        db.executescript(
            f"""
            CREATE TABLE nowhere (id INTEGER PRIMARY KEY);
            CREATE TABLE doomed (ref INTEGER REFERENCES nowhere (id) DEFERRABLE INITIALLY DEFERRED);
            CREATE TRIGGER doom AFTER UPDATE ON profiles
                WHEN json_extract(NEW.body, '$.first_name') = '{first_name}'
                BEGIN INSERT INTO doomed VALUES (1); END;
            """
        )


def test_a_failed_commit_answers_500_to_its_whole_batch_and_stores_none_of_it(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    _doom_commits_of(harness.path, "doomed")
    ann, bob, cat = harness.ids.values()

    async def scenario() -> tuple[Sequence[Reply], Reply]:
        batch = await asyncio.gather(
            harness.rename(ann, "ann-2"), harness.rename(bob, "doomed"), harness.rename(cat, "cat-2")
        )
        return batch, await harness.rename(ann, "ann-3")  # a later turn: a batch of its own

    batch, after = _serving(harness, scenario)
    for reply in batch:
        assert_error(reply, 500, server_error())
        assert "FOREIGN KEY" not in reply.text
    assert after.status == 200
    assert harness.committed_first_names() == {ann: "ann-3", bob: "bob", cat: "cat"}
    assert any("group commit failed" in record.getMessage() for record in caplog.records)


def test_when_sqlite_rolls_the_whole_batch_back_none_of_its_writes_is_answered_as_stored(harness: Harness) -> None:
    """A trigger's RAISE(ROLLBACK) ends the transaction there and then, as a full disk or an I/O error can:
    the writes before it in the batch are gone, so their requests answer 500; the next write starts a
    batch of its own."""
    with sqlite3.connect(harness.path) as db:
        db.execute(
            "CREATE TRIGGER doom BEFORE UPDATE ON profiles"
            " WHEN json_extract(NEW.body, '$.first_name') = 'doomed'"
            " BEGIN SELECT RAISE(ROLLBACK, 'doomed'); END"
        )
    ann, bob, cat = harness.ids.values()

    async def scenario() -> Sequence[Reply]:
        return await asyncio.gather(
            harness.rename(ann, "ann-2"), harness.rename(bob, "doomed"), harness.rename(cat, "cat-2")
        )

    lost, refused, after = _serving(harness, scenario)
    assert_error(lost, 500, server_error())
    assert_error(refused, 500, server_error())  # a constraint, but no identifier taken: not a 409
    assert after.status == 200
    assert harness.committed_first_names() == {ann: "ann", bob: "bob", cat: "cat-2"}


def test_another_thread_waits_for_the_open_batch_and_comes_after_it(harness: Harness) -> None:
    store = harness.app.store
    ann = harness.ids["ann"]
    errors: list[BaseException] = []

    def rename_elsewhere() -> None:
        try:
            store.update_profile(harness.account_id, ann, lambda old: _renamed(old, "from-a-thread"))
        except BaseException as error:  # pragma: no cover - reported by the assertion below
            errors.append(error)

    elsewhere = threading.Thread(target=rename_elsewhere)

    async def scenario() -> bool:
        store.update_profile(harness.account_id, ann, lambda old: _renamed(old, "ann-2"))  # opens the batch
        pending = store.pending_commit()
        assert pending is not None
        elsewhere.start()
        elsewhere.join(timeout=0.2)  # time to reach the store; it cannot get further while the batch is open
        waiting = elsewhere.is_alive()
        await pending
        return waiting

    assert _serving(harness, scenario) is True
    elsewhere.join(timeout=30)
    assert not errors
    assert harness.committed_first_names()[ann] == "from-a-thread"


def _renamed(old: Profile, first_name: str) -> Profile:
    return msgspec.structs.replace(old, first_name=first_name)


def test_over_real_sockets_every_answer_is_already_committed(live: Live) -> None:
    """Many clients at once, so the server batches; each checks each answer against the file itself."""
    _, key = live.new_account()
    path = live.store.path  # type: ignore[attr-defined]
    clients, rounds = 6, 12  # 72 updates: within the 75/s burst of one account, on the frozen clock
    setup = Api(live.url, key)
    ids = [setup.create_profile(email=f"client-{index}@example.com")["id"] for index in range(clients)]
    setup.close()
    failures: list[str] = []

    def client(profile_id: str) -> None:
        api = Api(live.url, key)
        with sqlite3.connect(path) as other:
            for turn in range(rounds):
                reply = api.update_profile(profile_id, {"first_name": f"turn-{turn}"})
                row = other.execute("SELECT body FROM profiles WHERE id = ?", (profile_id,)).fetchone()
                stored = json.loads(row[0])["first_name"]
                if reply.status != 200 or stored != f"turn-{turn}":
                    failures.append(f"{profile_id} turn {turn}: {reply.status}, the file says {stored!r}")
        api.close()

    threads = [threading.Thread(target=client, args=(profile_id,)) for profile_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures
