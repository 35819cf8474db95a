"""The pytest plugin (registered by entry point as `localviyo`; nothing to configure).

    def test_signup_updates_klaviyo(localviyo):
        my_app.signup("sarah@example.com", klaviyo_key=localviyo.api_key, klaviyo_host=localviyo.url)
        [patch] = localviyo.requests.find(method="PATCH", path=...)

- `localviyo_server` (session): one real server per session — per pytest-xdist worker — on 127.0.0.1 and
  a free port, in a thread, over a temporary SQLite store.
- `localviyo` (function): the server reset to nothing (profiles, journal, faults, rate-limit windows,
  clock), with the options of `@pytest.mark.localviyo(rate_limits=True, revision="2024-02-15", seed=None)`
  applied, as a `Localviyo` handle.

Heavy imports happen inside the fixtures, so merely having the plugin installed costs a test run nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from localviyo.testkit import Localviyo

MARKER = "localviyo(rate_limits=True, revision='2024-02-15', seed=None): options for the localviyo fixture"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)


@dataclass
class LocalviyoServer:
    url: str
    api_key: str
    app: Any


@pytest.fixture(scope="session")
def localviyo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalviyoServer]:
    from localviyo import Settings, accounts, create_app
    from localviyo.testing import ServerThread

    path = tmp_path_factory.mktemp("localviyo") / "localviyo.db"
    app = create_app(Settings(database_url=f"sqlite:///{path}", journal_size=10_000))
    key = accounts.create_key(app.store, app.clock, scopes=("*",))
    with ServerThread(app) as server:
        yield LocalviyoServer(server.url, key, app)
    app.store.close()


@pytest.fixture
def localviyo(localviyo_server: LocalviyoServer, request: pytest.FixtureRequest) -> Iterator[Localviyo]:
    from localviyo.testkit import Localviyo

    marker = request.node.get_closest_marker("localviyo")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    unknown = set(options) - {"rate_limits", "revision", "seed"}
    if unknown:
        raise pytest.UsageError(f"@pytest.mark.localviyo: unknown option(s) {', '.join(sorted(unknown))}")
    handle = Localviyo(
        localviyo_server.app, localviyo_server.url, localviyo_server.api_key, options.get("revision", "2024-02-15")
    )
    handle.reset()
    handle.set_rate_limits(options.get("rate_limits", True))
    if options.get("seed") is not None:
        handle.seed(options["seed"])
    yield handle
    handle.close()
