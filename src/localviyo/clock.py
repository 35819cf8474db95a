"""Time and identifiers, injected so tests (and users' tests) control both."""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to: `advance()` or `set()`."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def set(self, now: float) -> None:
        with self._lock:
            self._now = now


def utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def frozen_at(text: str) -> float:
    """An ISO 8601 time (naive means UTC) as a timestamp; ValueError if it is not one."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class Ids:
    """Profile ULIDs and error UUIDs.

    ULIDs are monotonic within one millisecond, so the default sort (by id) is creation order even for
    profiles created in the same millisecond. With a seed, the random parts repeat from run to run.
    """

    def __init__(self, clock: Clock, seed: int | None = None) -> None:
        self._clock = clock
        self._random = random.Random(seed) if seed is not None else None
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_rand = 0

    def _bits(self, n: int) -> int:
        if self._random is not None:
            return self._random.getrandbits(n)
        return int.from_bytes(os.urandom((n + 7) // 8), "big") >> (-n % 8)

    def ulid(self) -> str:
        with self._lock:
            ms = int(self._clock.time() * 1000)
            if ms <= self._last_ms:
                ms = self._last_ms
                rand = self._last_rand + 1
                if rand >= 1 << 80:
                    ms, rand = ms + 1, self._bits(79)
            else:
                rand = self._bits(79)  # leave headroom for increments within the millisecond
            self._last_ms, self._last_rand = ms, rand
        value = (ms << 80) | rand
        return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))

    def uuid(self) -> str:
        if self._random is None:
            return str(uuid.uuid4())
        with self._lock:
            return str(uuid.UUID(int=self._random.getrandbits(128), version=4))
