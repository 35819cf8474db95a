"""Rate-limit accuracy under a load well over the limit: the number of 2xx per window is the limit, exactly.

Sixteen threads hammer one operation (`get_profile`, Klaviyo's L tier: 75/s burst, 700/m steady) with
several times more requests than a window allows. Windows are made deterministic by the clock: a
ManualClock moved between volleys in process, `--frozen-time` for `localviyo serve` processes.

- per process (in-memory limiter): 75 per burst window, 700 per steady window, the 429s say when to
  come back, and the 700 successes carry 700 distinct `RateLimit-Remaining` values (699 … 0), so no two
  requests were counted as one;
- across processes on Redis: two real `localviyo serve` processes, clocks frozen at the same instant,
  share one burst window of exactly 75; two servers with limiters of their own on one Redis, clocks moved
  in lockstep, share one steady window of exactly 700.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from backends import REDIS_URL, redis_available
from processes import first_run_key, serving

from localviyo import ManualClock, Settings, accounts, create_app
from localviyo.core.keys import FULL_ACCESS
from localviyo.storage import open_store
from localviyo.testing import ServerThread

START = 1_800_000_000.0  # on a minute boundary
BURST, STEADY = 75, 700
THREADS = 16
VOLLEY = 160  # requests per burst window: more than twice the limit


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    remaining: list[int] = field(default_factory=list)
    retry_after: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def passed(self) -> int:
        return sum(count for status, count in self.statuses.items() if 200 <= status < 300)


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Klaviyo-API-Key {key}", "revision": "2024-02-15"}


def hammer(http: httpx.Client, urls: Sequence[str], key: str, profile_id: str, count: int) -> Tally:
    """`count` concurrent requests, spread over `urls`."""
    tally = Tally()

    def one(index: int) -> None:
        reply = http.get(f"{urls[index % len(urls)]}/api/profiles/{profile_id}/", headers=headers(key))
        with tally.lock:
            tally.statuses[reply.status_code] += 1
            if 200 <= reply.status_code < 300:
                tally.remaining.append(int(reply.headers["RateLimit-Remaining"]))
            elif reply.status_code == 429:
                tally.retry_after[reply.headers["Retry-After"]] += 1
                assert reply.json()["errors"][0]["code"] == "throttled"

    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(one, index) for index in range(count)]:
            future.result()
    assert set(tally.statuses) <= {200, 429}, tally.statuses
    return tally


def client() -> httpx.Client:
    return httpx.Client(timeout=30, limits=httpx.Limits(max_connections=THREADS * 2))


@dataclass
class Cluster:
    """Servers that share one store (and, with Redis, one limiter) and clocks moved together."""

    urls: list[str]
    clocks: list[ManualClock]
    key: str
    profile_id: str

    def at(self, seconds: float) -> None:
        for clock in self.clocks:
            clock.set(START + seconds)


def _cluster(tmp_path: Path, settings: Settings, servers: int) -> Iterator[Cluster]:
    store = open_store(f"sqlite:///{tmp_path / 'localviyo.db'}")
    clocks = [ManualClock(START) for _ in range(servers)]
    apps = [create_app(settings, store=store, clock=clock) for clock in clocks]
    key = accounts.create_key(store, clocks[0], account="limits", scopes=(FULL_ACCESS,))
    with ExitStack() as stack:
        urls = [stack.enter_context(ServerThread(app)).url for app in apps]
        body = {"data": {"type": "profile", "attributes": {"email": "limits@rate.test"}}}
        reply = httpx.post(f"{urls[0]}/api/profiles/", json=body, headers=headers(key), timeout=30)
        assert reply.status_code == 201, reply.text
        yield Cluster(urls, clocks, key, reply.json()["data"]["id"])
    store.close()


@pytest.fixture
def one_process(tmp_path: Path) -> Iterator[Cluster]:
    yield from _cluster(tmp_path, Settings(), 1)


@pytest.fixture
def two_on_redis(tmp_path: Path) -> Iterator[Cluster]:
    redis_available()
    yield from _cluster(tmp_path, Settings(redis_url=REDIS_URL), 2)


def test_burst_window_passes_exactly_75_per_second_in_one_process(one_process: Cluster) -> None:
    with client() as http:
        for second in range(3):
            one_process.at(second + 0.25)
            tally = hammer(http, one_process.urls, one_process.key, one_process.profile_id, VOLLEY)
            assert tally.statuses == {200: BURST, 429: VOLLEY - BURST}, (second, tally.statuses)
            assert tally.retry_after == {"1": VOLLEY - BURST}
    # The burst windows above used 225 of the minute's 700.


def steady_minute(cluster: Cluster) -> list[Tally]:
    """A minute of volleys: one per second until the steady window is spent, then a few more."""
    volleys = []
    with client() as http:
        for moment in [*(s + 0.25 for s in range(10)), 10.25, 30.25, 59.75]:
            cluster.at(moment)
            volleys.append(hammer(http, cluster.urls, cluster.key, cluster.profile_id, VOLLEY))
    return volleys


def check_steady(volleys: list[Tally], cluster: Cluster) -> None:
    passed = [tally.passed for tally in volleys]
    assert passed == [BURST] * 9 + [STEADY - 9 * BURST] + [0, 0, 0], passed
    assert sum(passed) == STEADY
    remaining = sorted(value for tally in volleys for value in tally.remaining)
    assert remaining == list(range(STEADY)), "every success had a count of its own"
    # Refused by the steady window: come back when the minute ends.
    for tally, moment in zip(volleys[10:], (10.25, 30.25, 59.75), strict=True):
        assert tally.retry_after == {str(math.ceil(60 - moment)): VOLLEY}, tally.retry_after
    with client() as http:
        cluster.at(60.25)
        tally = hammer(http, cluster.urls, cluster.key, cluster.profile_id, VOLLEY)
        assert tally.passed == BURST, "a new minute, a new steady window"
        assert sorted(tally.remaining) == list(range(STEADY - BURST, STEADY))


def test_steady_window_passes_exactly_700_per_minute_in_one_process(one_process: Cluster) -> None:
    check_steady(steady_minute(one_process), one_process)


def test_steady_window_is_shared_exactly_by_two_limiters_on_redis(two_on_redis: Cluster) -> None:
    check_steady(steady_minute(two_on_redis), two_on_redis)


def test_burst_window_is_shared_exactly_by_two_serve_processes_on_redis(tmp_path: Path) -> None:
    redis_available()
    database = f"sqlite:///{tmp_path / 'localviyo.db'}"
    options = ("--database-url", database, "--redis-url", REDIS_URL, "--frozen-time", "2026-11-16T12:00:00.25Z")
    with serving(tmp_path / "a", *options) as first:
        key = first_run_key(first.stdout)
        with serving(tmp_path / "b", *options) as second, client() as http:
            body = {"data": {"type": "profile", "attributes": {"email": "two@rate.test"}}}
            created = http.post(f"{first.url}/api/profiles/", json=body, headers=headers(key))
            assert created.status_code == 201, created.text
            profile_id = created.json()["data"]["id"]
            tally = hammer(http, [first.url, second.url], key, profile_id, 2 * VOLLEY)
    assert tally.statuses == {200: BURST, 429: 2 * VOLLEY - BURST}, tally.statuses
    # The create above counts in its own operation's windows; the gets own 699 … 625 of the minute.
    assert sorted(tally.remaining) == list(range(STEADY - BURST, STEADY))
    assert tally.retry_after == {"1": 2 * VOLLEY - BURST}
