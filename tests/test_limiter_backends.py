"""One rate-limiter suite, run against every limiter: this process's memory and Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from backends import REDIS_URL, redis_available

from localviyo.ratelimit import Limiter, Limits, MemoryLimiter

L = Limits.parse("75/s", "700/m")
M = Limits.parse("10/s", "150/m")
T0 = 1_800_000_000.0  # a whole minute


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest) -> Iterator[Limiter]:
    if request.param == "memory":
        yield MemoryLimiter()
        return
    redis_available()
    from localviyo.ratelimit_redis import RedisLimiter

    redis_limiter = RedisLimiter(REDIS_URL, prefix=f"localviyo-test:{uuid.uuid4().hex}")
    yield redis_limiter
    redis_limiter.reset()
    redis_limiter.close()


def allowed(limiter: Limiter, key: str, limits: Limits, now: float, count: int) -> int:
    passed = 0
    for _ in range(count):
        decision = limiter.hit(key, limits, now)
        assert decision is not None
        passed += decision.allowed
    return passed


def test_hit_burst_window(limiter: Limiter) -> None:
    assert allowed(limiter, "a", L, T0 + 0.1, 80) == 75
    decision = limiter.hit("a", L, T0 + 0.9)
    assert decision is not None and not decision.allowed
    assert decision.retry_after == 1
    assert allowed(limiter, "a", L, T0 + 1.0, 1) == 1


def test_hit_steady_window(limiter: Limiter) -> None:
    for second in range(10):
        assert allowed(limiter, "s", L, T0 + second, 70) == 70
    decision = limiter.hit("s", L, T0 + 30.5)
    assert decision is not None and not decision.allowed
    assert decision.retry_after == 30
    assert allowed(limiter, "s", L, T0 + 60, 1) == 1


def test_hit_headers(limiter: Limiter) -> None:
    decision = limiter.hit("h", L, T0 + 20.5)
    assert decision is not None
    assert (decision.limit, decision.remaining, decision.reset) == (700, 699, 40)


def test_hit_refused_requests_do_not_count(limiter: Limiter) -> None:
    assert allowed(limiter, "r", M, T0, 15) == 10
    decision = limiter.hit("r", M, T0 + 1)
    assert decision is not None and decision.allowed
    assert decision.remaining == 150 - 11


def test_hit_keys_are_independent(limiter: Limiter) -> None:
    assert allowed(limiter, "k1", M, T0, 10) == 10
    assert allowed(limiter, "k2", M, T0, 10) == 10
    assert allowed(limiter, "k1", M, T0, 1) == 0


def test_hit_is_exact_under_concurrency(limiter: Limiter) -> None:
    with ThreadPoolExecutor(16) as pool:
        decisions = list(pool.map(lambda _: limiter.hit("c", L, T0 + 0.5), range(200)))
    assert sum(1 for d in decisions if d is not None and d.allowed) == 75
