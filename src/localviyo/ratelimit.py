"""Klaviyo's rate limits: per account and operation, a burst window (1 s) and a steady one (1 min).

Windows are fixed and aligned to the clock (a steady window runs from :00 to :60 of each minute). A request
counts against both windows only if both have room, so refused requests do not prolong a 429. The state of
the steady window goes back in the `RateLimit-*` headers; a refusal says, in whole seconds, when the
exhausted window with the later end resets.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from typing import Protocol

_RATE = re.compile(r"^(\d+)/([sm])$")


@dataclass(frozen=True, slots=True)
class Rate:
    amount: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """Klaviyo's notation from `x-klaviyo-ratelimit`: `75/s`, `700/m`."""
        match = _RATE.match(text)
        if match is None:
            raise ValueError(f"invalid rate {text!r}: expected N/s or N/m")
        return cls(int(match.group(1)), 1 if match.group(2) == "s" else 60)


@dataclass(frozen=True, slots=True)
class Limits:
    burst: Rate
    steady: Rate

    @classmethod
    def parse(cls, burst: str, steady: str) -> Limits:
        return cls(Rate.parse(burst), Rate.parse(steady))


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int  # of the steady window
    remaining: int
    reset: int  # seconds until the steady window resets
    retry_after: int = 0


def _reset(now: float, rate: Rate) -> int:
    window_end = (math.floor(now / rate.seconds) + 1) * rate.seconds
    return max(1, math.ceil(window_end - now))


def decide(counts: tuple[int, int], limits: Limits, now: float) -> Decision:
    """From the counts already in the burst and steady windows, whether one more request may pass."""
    burst_count, steady_count = counts
    steady = limits.steady
    exhausted = [rate for rate, count in ((limits.burst, burst_count), (steady, steady_count)) if count >= rate.amount]
    if exhausted:
        wait = max(_reset(now, rate) for rate in exhausted)
        return Decision(False, steady.amount, 0, _reset(now, steady), wait)
    return Decision(True, steady.amount, steady.amount - steady_count - 1, _reset(now, steady))


class Limiter(Protocol):
    def hit(self, key: str, limits: Limits, now: float) -> Decision | None:
        """Count one request if both windows have room; None when the limiter cannot tell (fail open)."""
        ...

    def reset(self) -> None: ...


class MemoryLimiter:
    """Counters in this process's memory: exact for one server process."""

    def __init__(self) -> None:
        self._windows: dict[tuple[str, int], tuple[int, int]] = {}
        self._lock = threading.Lock()

    def _count(self, key: str, rate: Rate, now: float) -> tuple[int, int]:
        window = math.floor(now / rate.seconds)
        start, count = self._windows.get((key, rate.seconds), (window, 0))
        return window, count if start == window else 0

    def hit(self, key: str, limits: Limits, now: float) -> Decision:
        with self._lock:
            burst_window, burst = self._count(key, limits.burst, now)
            steady_window, steady = self._count(key, limits.steady, now)
            decision = decide((burst, steady), limits, now)
            if decision.allowed:
                self._windows[(key, limits.burst.seconds)] = (burst_window, burst + 1)
                self._windows[(key, limits.steady.seconds)] = (steady_window, steady + 1)
            return decision

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


def open_limiter(redis_url: str | None, *, fail_open: bool = True) -> Limiter:
    """In this process's memory, or in Redis when a URL is given (its client is imported only then)."""
    if not redis_url:
        return MemoryLimiter()
    from localviyo.ratelimit_redis import RedisLimiter

    return RedisLimiter(redis_url, fail_open=fail_open)
