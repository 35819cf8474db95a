"""Several server processes over PostgreSQL and Redis behave as one: no lost updates, no duplicate
profiles, one rate limit per account across all of them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from backends import REDIS_URL, postgres_schema, redis_available
from processes import Served, first_run_key, serving

from localviyo import ManualClock, Settings, accounts, create_app
from localviyo.storage import open_store
from localviyo.testing import ServerThread

MISSING = "01GDDKASAP8TKDDA2GRZDSVP4H"


@dataclass
class Pair:
    servers: tuple[Served, Served]
    key: str

    def url(self, index: int) -> str:
        return self.servers[index % 2].url


def _pair(directory: Path, database_url: str, *options: str) -> Iterator[Pair]:
    args = ("--database-url", database_url, *options)
    with serving(directory / "a", *args) as first:
        key = first_run_key(first.stdout)
        with serving(directory / "b", *args) as second:
            assert second.stdout == ""  # the store already has a key: the second process makes none
            yield Pair((first, second), key)


@pytest.fixture(scope="module")
def unlimited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Two processes on one PostgreSQL schema, rate limits off."""
    with postgres_schema() as url:
        yield from _pair(tmp_path_factory.mktemp("unlimited"), url, "--rate-limits", "off")


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Two processes on PostgreSQL sharing Redis rate limits, their clocks frozen at the same instant."""
    redis_available()
    with postgres_schema() as url:
        options = ("--redis-url", REDIS_URL, "--frozen-time", "2026-11-16T12:00:00.25Z")
        yield from _pair(tmp_path_factory.mktemp("limited"), url, *options)


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Klaviyo-API-Key {key}", "revision": "2024-02-15", "Content-Type": "application/json"}


def create(http: httpx.Client, url: str, key: str, email: str) -> httpx.Response:
    body = {"data": {"type": "profile", "attributes": {"email": email}}}
    return http.post(f"{url}/api/profiles/", json=body, headers=headers(key))


def test_appends_over_two_processes_all_land(unlimited: Pair) -> None:
    with httpx.Client(timeout=30) as http:
        created = create(http, unlimited.url(0), unlimited.key, "appends@example.com")
        assert created.status_code == 201, created.text
        profile_id = created.json()["data"]["id"]

        def append(index: int) -> int:
            body = {
                "data": {
                    "type": "profile",
                    "id": profile_id,
                    "attributes": {},
                    "meta": {"patch_properties": {"append": {"seen": f"v{index}"}}},
                }
            }
            url = f"{unlimited.url(index)}/api/profiles/{profile_id}/"
            return http.patch(url, json=body, headers=headers(unlimited.key)).status_code

        with ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(append, range(100)))
        assert statuses == [200] * 100
        stored = http.get(f"{unlimited.url(1)}/api/profiles/{profile_id}/", headers=headers(unlimited.key))
        assert sorted(stored.json()["data"]["attributes"]["properties"]["seen"]) == sorted(f"v{i}" for i in range(100))


def test_creates_of_one_email_over_two_processes_make_one_profile(unlimited: Pair) -> None:
    with httpx.Client(timeout=30) as http, ThreadPoolExecutor(20) as pool:
        replies = list(pool.map(lambda i: create(http, unlimited.url(i), unlimited.key, "race@example.com"), range(20)))
    statuses = Counter(reply.status_code for reply in replies)
    assert statuses == {201: 1, 409: 19}, [reply.text for reply in replies if reply.status_code not in (201, 409)]
    winner = next(reply for reply in replies if reply.status_code == 201).json()["data"]["id"]
    for reply in replies:
        if reply.status_code == 409:
            error = reply.json()["errors"][0]
            assert error["code"] == "duplicate_profile"
            assert error["meta"] == {"duplicate_profile_id": winner}


def test_burst_limit_holds_across_two_processes(limited: Pair) -> None:
    def get(index: int) -> int:
        url = f"{limited.url(index)}/api/profiles/{MISSING}/"
        return http.get(url, headers=headers(limited.key)).status_code

    with httpx.Client(timeout=30) as http, ThreadPoolExecutor(20) as pool:
        statuses = Counter(pool.map(get, range(100)))
    assert statuses == {404: 75, 429: 25}


@pytest.mark.parametrize(("failure", "status"), [("open", 404), ("closed", 503)])
def test_unreachable_redis_is_never_a_500(tmp_path: Path, failure: str, status: int) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    clock = ManualClock()
    settings = Settings(redis_url="redis://127.0.0.1:1/0", redis_failure=failure)
    app = create_app(settings, store=store, clock=clock)
    key = accounts.create_key(store, clock, scopes=("*",))
    with ServerThread(app) as server:
        reply = httpx.get(f"{server.url}/api/profiles/{MISSING}/", headers=headers(key))
    assert reply.status_code == status
    assert "ratelimit-limit" not in reply.headers
    if failure == "closed":
        assert reply.json()["errors"][0]["code"] == "service_unavailable"
    store.close()
