"""No lost updates and no duplicate identifiers under concurrency: in one server, and in two server
processes over the same SQLite file."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from processes import first_run_key, serving, url_of

from localviyo import Settings, accounts, create_app
from localviyo.clock import SystemClock
from localviyo.core.keys import FULL_ACCESS
from localviyo.storage import open_store
from localviyo.testing import ServerThread

REVISION = "2024-02-15"
APPENDS = 100
CREATES = 20
WORKERS = 20


@dataclass
class Servers:
    """One or more servers over one store, and a full-access key they all accept."""

    urls: list[str]
    key: str

    def client(self) -> httpx.Client:
        headers = {
            "Authorization": f"Klaviyo-API-Key {self.key}",
            "revision": REVISION,
            "Content-Type": "application/json",
        }
        limits = httpx.Limits(max_connections=2 * WORKERS, max_keepalive_connections=2 * WORKERS)
        return httpx.Client(headers=headers, timeout=60, limits=limits)


def create(http: httpx.Client, url: str, email: str) -> httpx.Response:
    body = {"data": {"type": "profile", "attributes": {"email": email}}}
    return http.post(f"{url}/api/profiles/", json=body)


def append(http: httpx.Client, url: str, profile_id: str, value: str) -> httpx.Response:
    meta = {"patch_properties": {"append": {"skus": value}}}
    body = {"data": {"type": "profile", "id": profile_id, "attributes": {}, "meta": meta}}
    return http.patch(f"{url}/api/profiles/{profile_id}/", json=body)


def check_appends_land_once(servers: Servers, email: str) -> None:
    """APPENDS concurrent appends to one profile, spread over every server: each value lands exactly once."""
    with servers.client() as http:
        created = create(http, servers.urls[0], email)
        assert created.status_code == 201, created.text
        profile_id: str = created.json()["data"]["id"]
        values = [f"v{i}" for i in range(APPENDS)]

        def send(index: int) -> httpx.Response:
            return append(http, servers.urls[index % len(servers.urls)], profile_id, values[index])

        with ThreadPoolExecutor(WORKERS) as pool:
            replies = list(pool.map(send, range(APPENDS)))
        for value, reply in zip(values, replies, strict=True):
            assert reply.status_code == 200, reply.text
            assert value in reply.json()["data"]["attributes"]["properties"]["skus"]
        for url in servers.urls:
            got = http.get(f"{url}/api/profiles/{profile_id}/")
            assert got.status_code == 200, got.text
            skus: list[str] = got.json()["data"]["attributes"]["properties"]["skus"]
            counts = Counter(skus)
            assert sorted(counts) == sorted(values), f"lost: {sorted(set(values) - set(counts))}"
            assert [value for value, count in counts.items() if count != 1] == []
            assert len(skus) == APPENDS


def check_one_create_wins(servers: Servers, email: str) -> None:
    """CREATES concurrent creates of one email, spread over every server: one 201, the rest 409 naming it."""
    barrier = threading.Barrier(CREATES, timeout=30)
    with servers.client() as http:
        for url in servers.urls:  # warm a connection to each, so the barrier releases requests, not handshakes
            assert http.get(f"{url}/api/profiles/none/").status_code == 404

        def send(index: int) -> httpx.Response:
            barrier.wait()
            return create(http, servers.urls[index % len(servers.urls)], email)

        with ThreadPoolExecutor(CREATES) as pool:
            replies = list(pool.map(send, range(CREATES)))
        statuses = Counter(reply.status_code for reply in replies)
        assert statuses == {201: 1, 409: CREATES - 1}, [(reply.status_code, reply.text) for reply in replies]
        [winner] = [reply for reply in replies if reply.status_code == 201]
        profile_id = winner.json()["data"]["id"]
        for reply in replies:
            if reply.status_code == 409:
                errors: list[dict[str, Any]] = reply.json()["errors"]
                assert [error["code"] for error in errors] == ["duplicate_profile"], reply.text
                assert errors[0]["meta"]["duplicate_profile_id"] == profile_id, reply.text
        for url in servers.urls:
            got = http.get(f"{url}/api/profiles/{profile_id}/")
            assert got.status_code == 200, got.text
            assert got.json()["data"]["attributes"]["email"] == email


# One server, in this process


@pytest.fixture(scope="module")
def one_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    path = tmp_path_factory.mktemp("concurrency-thread") / "localviyo.db"
    store = open_store(url_of(path))
    app = create_app(Settings(rate_limits="off"), store=store)
    key = accounts.create_key(store, SystemClock(), scopes=(FULL_ACCESS,))
    with ServerThread(app) as server:
        yield Servers([server.url], key)
    store.close()


def test_concurrent_appends_in_one_server_land_once(one_server: Servers) -> None:
    check_appends_land_once(one_server, "appends@example.com")


def test_concurrent_creates_in_one_server_make_one_profile(one_server: Servers) -> None:
    check_one_create_wins(one_server, "creates@example.com")


# Two server processes over one SQLite file


@dataclass
class TwoProcesses:
    servers: Servers
    stdouts: list[str]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoProcesses]:
    directory = tmp_path_factory.mktemp("concurrency-processes")
    options = ("--database-url", url_of(directory / "localviyo.db"))
    env = {"LOCALVIYO_RATE_LIMITS": "off"}
    with ExitStack() as stack:
        first = stack.enter_context(serving(directory, *options, env=env))
        key = first_run_key(first.stdout)
        second = stack.enter_context(serving(directory, *options, env=env))  # started once the first answers
        yield TwoProcesses(Servers([first.url, second.url], key), [first.stdout, second.stdout])


def test_only_the_first_process_prints_a_key_and_both_accept_it(two_processes: TwoProcesses) -> None:
    first, second = two_processes.stdouts
    assert first.splitlines()[1] == two_processes.servers.key
    assert second == ""
    with two_processes.servers.client() as http:
        for url in two_processes.servers.urls:
            reply = http.get(f"{url}/api/profiles/01GDDKASAP8TKDDA2GRZDSVP4H/")
            assert reply.status_code == 404, reply.text
            assert reply.json()["errors"][0]["code"] == "not_found"


def test_concurrent_appends_over_two_processes_land_once(two_processes: TwoProcesses) -> None:
    check_appends_land_once(two_processes.servers, "appends@example.com")


def test_concurrent_creates_over_two_processes_make_one_profile(two_processes: TwoProcesses) -> None:
    check_one_create_wins(two_processes.servers, "creates@example.com")
