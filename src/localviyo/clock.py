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


class AdjustableClock:
    """The server's clock: the system's, moved by an offset, or frozen. Users' tests drive it through the
    admin API and the pytest fixture; created/updated, rate-limit windows and Retry-After all follow it.

    - `freeze(at=None)`: stop (where it is, or at `at`);
    - `unfreeze()`: run again from where it stands;
    - `advance(seconds)`, `set(now)`: move it, frozen or running.
    """

    def __init__(self, start: float | None = None, *, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        now = time.time()
        self._offset = 0.0 if start is None else start - now
        self._frozen_at: float | None = (now + self._offset) if frozen else None

    def time(self) -> float:
        frozen = self._frozen_at
        return frozen if frozen is not None else time.time() + self._offset

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def freeze(self, at: float | None = None) -> None:
        with self._lock:
            self._frozen_at = self.time() if at is None else at

    def unfreeze(self) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds

    def set(self, now: float) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at = now
            else:
                self._offset = now - time.time()

    def reset(self) -> None:
        """Back to the system's time, running."""
        with self._lock:
            self._offset, self._frozen_at = 0.0, None


class ManualClock(AdjustableClock):
    """A clock that moves only when told to: `advance()` or `set()` (frozen from the start)."""

    def __init__(self, start: float | None = None) -> None:
        super().__init__(start, frozen=True)


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
