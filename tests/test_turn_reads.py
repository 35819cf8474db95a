"""The reads of one turn of the server's event loop share a read transaction (storage/group_commit.py).

Another connection to the same file (a second SQLiteStore, as another worker or `localviyo keys` would
be) commits while a turn is under way. What the tests assert is what a request can see: the snapshot of
its turn, which was taken after it was received, and from the next turn on everything committed before.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asgi
import msgspec
import pytest
from client import Reply

from localviyo import ManualClock, Settings, accounts, create_app
from localviyo.core.document import Changes
from localviyo.core.keys import FULL_ACCESS
from localviyo.core.profile import Profile
from localviyo.storage.sqlite import SQLiteStore

NOW = 1_794_830_400.0


@dataclass
class Stores:
    server: SQLiteStore  # the one the loop serves from
    other: SQLiteStore  # another connection to the same file
    account_id: str
    profile_id: str

    def first_name(self, store: SQLiteStore) -> str | None:
        profile = store.get_profile(self.account_id, self.profile_id)
        assert profile is not None
        return profile.first_name

    def rename(self, store: SQLiteStore, first_name: str) -> None:
        store.update_profile(
            self.account_id, self.profile_id, lambda old: msgspec.structs.replace(old, first_name=first_name)
        )


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    path = str(tmp_path / "turns.db")
    server, other = SQLiteStore(path), SQLiteStore(path)
    server.migrate()
    account = server.ensure_account("main", lambda: "acc1", NOW)
    profile = Profile(id="01JDX0000000000000000000AA", email="ann@example.com", first_name="ann", created=NOW)
    server.create_profile(account.id, profile)
    yield Stores(server, other, account.id, profile.id)
    other.close()
    server.close()


@pytest.mark.parametrize("group_commit", [True, False], ids=["group-commit", "group-commit-off"])
def test_the_reads_of_a_turn_share_a_snapshot_and_the_next_turn_sees_what_another_connection_committed(
    stores: Stores, group_commit: bool
) -> None:
    async def scenario() -> tuple[str | None, str | None, str | None]:
        stores.server.serve_on(asyncio.get_running_loop(), group_commit=group_commit)
        first = stores.first_name(stores.server)
        stores.rename(stores.other, "ann-2")  # committed while the turn is under way
        same_turn = stores.first_name(stores.server)
        await asyncio.sleep(0)  # the loop turns: what is received from now on was sent after the commit
        next_turn = stores.first_name(stores.server)
        stores.server.stop_serving()
        return first, same_turn, next_turn

    first, same_turn, next_turn = asyncio.run(scenario())
    assert first == "ann"
    # With group commit the turn's reads share the snapshot of its first one; without, each read is a
    # transaction of its own. Either way a request waiting in that turn was received before the commit.
    assert same_turn == ("ann" if group_commit else "ann-2")
    assert next_turn == "ann-2"


def test_a_write_ends_its_turns_read_transaction_and_the_reads_after_it_see_the_write(stores: Stores) -> None:
    async def scenario() -> tuple[str | None, str | None, str | None]:
        stores.server.serve_on(asyncio.get_running_loop(), group_commit=True)
        stores.rename(stores.other, "ann-2")
        before = stores.first_name(stores.server)  # opens the turn's read transaction
        stores.rename(stores.other, "ann-3")  # another connection writes while it is open
        stores.rename(stores.server, "ann-4")  # a write of this turn: it starts from the newest state
        after = stores.first_name(stores.server)
        pending = stores.server.pending_commit()
        assert pending is not None
        await pending
        stores.server.stop_serving()
        return before, after, stores.first_name(stores.other)

    before, after, committed = asyncio.run(scenario())
    assert (before, after, committed) == ("ann-2", "ann-4", "ann-4")


def test_another_thread_waits_for_the_turns_reads_and_the_turn_does_not_wait_for_it(stores: Stores) -> None:
    elsewhere = threading.Thread(target=stores.rename, args=(stores.server, "from-a-thread"))

    async def scenario() -> tuple[bool, str | None]:
        stores.server.serve_on(asyncio.get_running_loop(), group_commit=True)
        assert stores.first_name(stores.server) == "ann"  # opens the turn's read transaction
        elsewhere.start()
        elsewhere.join(timeout=0.2)  # time to reach the store; it cannot get further during the turn
        waiting = elsewhere.is_alive()
        same_turn = stores.first_name(stores.server)
        await asyncio.sleep(0)
        await asyncio.to_thread(elsewhere.join, 30)
        stores.server.stop_serving()
        return waiting, same_turn

    waiting, same_turn = asyncio.run(scenario())
    assert waiting
    assert same_turn == "ann"
    assert not elsewhere.is_alive()
    assert stores.first_name(stores.other) == "from-a-thread"


def test_stopping_the_server_mid_turn_ends_the_turns_read_transaction(stores: Stores) -> None:
    elsewhere = threading.Thread(target=stores.rename, args=(stores.server, "after-the-stop"))

    async def scenario() -> bool:
        stores.server.serve_on(asyncio.get_running_loop(), group_commit=True)
        stores.first_name(stores.server)
        stores.server.stop_serving()
        elsewhere.start()
        elsewhere.join(timeout=30)  # still in the same turn: nothing but the stop can have let it through
        return elsewhere.is_alive()

    assert asyncio.run(scenario()) is False
    assert stores.first_name(stores.other) == "after-the-stop"


def test_over_asgi_reads_and_writes_of_one_turn_answer_in_their_order(tmp_path: Path) -> None:
    """A Get Profile, an update and a Get Profile of the same profile gathered into one turn."""
    store = SQLiteStore(str(tmp_path / "app.db"))
    clock = ManualClock(NOW)
    app = create_app(Settings(rate_limits="off"), store=store, clock=clock)
    key = accounts.create_key(store, clock, account="main", scopes=(FULL_ACCESS,))
    account = store.account_by_name("main")
    assert account is not None
    profile = app.service.create_profile(
        account.id, Changes(attributes={"email": "ann@example.com", "first_name": "ann"})
    )
    path = f"/api/profiles/{profile.id}/"
    document = {"data": {"type": "profile", "id": profile.id, "attributes": {"first_name": "ann-2"}}}

    async def scenario() -> list[Reply]:
        return list(
            await asyncio.gather(
                asgi.call(app, key, "GET", path),
                asgi.call(app, key, "PATCH", path, document),
                asgi.call(app, key, "GET", path),
            )
        )

    replies = asgi.serving(app, scenario)
    store.close()
    assert [reply.status for reply in replies] == [200, 200, 200]
    names = [reply.json()["data"]["attributes"]["first_name"] for reply in replies]
    assert names == ["ann", "ann-2", "ann-2"]
