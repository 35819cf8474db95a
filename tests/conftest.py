from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from client import Api
from sdk.harness import VERSIONS, SDKClient, SDKRunner, SDKVenvOffline

from localviyo import ManualClock, Settings, accounts, create_app
from localviyo.app import LocalviyoApp
from localviyo.core.keys import FULL_ACCESS
from localviyo.storage import Store, open_store
from localviyo.testing import ServerThread

# A fixed start, on a minute boundary, so rate-limit windows in tests begin where the test says.
START = datetime(2026, 11, 16, 12, 0, 0, tzinfo=UTC).timestamp()
_accounts = itertools.count()


@dataclass
class Live:
    url: str
    app: LocalviyoApp
    store: Store
    clock: ManualClock

    def new_account(self, scopes: tuple[str, ...] = (FULL_ACCESS,)) -> tuple[str, str]:
        """A fresh account and a key for it: (account name, key). Tests share a server, not accounts."""
        name = f"account-{next(_accounts)}"
        return name, accounts.create_key(self.store, self.clock, account=name, scopes=scopes)

    def key(self, account: str, scopes: tuple[str, ...] = (FULL_ACCESS,)) -> str:
        return accounts.create_key(self.store, self.clock, account=account, scopes=scopes)


def _serve(path: Path, settings: Settings) -> Iterator[Live]:
    clock = ManualClock(START)
    store = open_store(f"sqlite:///{path}")
    app = create_app(settings, store=store, clock=clock)
    with ServerThread(app) as server:
        yield Live(server.url, app, store, clock)
    store.close()


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One real server on a real socket over a real SQLite file, for the whole session."""
    yield from _serve(tmp_path_factory.mktemp("live") / "localviyo.db", Settings())


@pytest.fixture
def minute(live: Live) -> float:
    """Put the server's clock at the start of a fresh minute (and so of a fresh second)."""
    start = START + (int((live.clock.time() - START) // 60) + 2) * 60
    live.clock.set(start)
    return start


@pytest.fixture
def api(live: Live) -> Iterator[Api]:
    """A client with a full-access key of a fresh account, so tests never see each other's profiles."""
    _, key = live.new_account()
    client = Api(live.url, key)
    yield client
    client.close()


# Klaviyo's official SDKs, each in a virtual environment of its own (tests/sdk/harness.py). No retries and
# short backoffs, so a 429 or 503 from the server fails the call at once unless a test asks otherwise.
SDK_OPTIONS = {"max_retries": 1, "max_delay": 1}


@pytest.fixture(scope="session", params=VERSIONS, ids=lambda version: f"sdk-{version}")
def runner(request: pytest.FixtureRequest) -> Iterator[SDKRunner]:
    try:
        sdk = SDKRunner(request.param)
        sdk.sdk_version()
    except SDKVenvOffline as error:
        pytest.skip(f"klaviyo-api {request.param} cannot be installed here (no package index): {error}")
    yield sdk
    sdk.close()


@pytest.fixture
def sdk(runner: SDKRunner, live: Live) -> SDKClient:
    """A client of the official SDK with a full-access key of a fresh account."""
    _, key = live.new_account()
    return runner.client(key, live.url, SDK_OPTIONS)
