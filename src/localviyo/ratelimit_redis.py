"""Rate-limit windows in Redis, shared by every server process (install the `redis` extra).

One Lua script reads both windows and, when both have room, counts the request in both: atomic, so N
processes together let through exactly what one would. Window keys carry their window number and expire
by themselves. Window numbers come from the app's clock, so frozen or advanced time works here too.
When Redis cannot be reached the limiter fails open (no limits, no headers) or closed (503), as
configured; never a 500.
"""

from __future__ import annotations

import math

import redis
import redis.exceptions

from localviyo.errors import APIError
from localviyo.ratelimit import Decision, Limits, decide

UNAVAILABLE = "The rate limiter is unavailable; try again shortly."

_SCRIPT = """
local burst = tonumber(redis.call('GET', KEYS[1]) or '0')
local steady = tonumber(redis.call('GET', KEYS[2]) or '0')
if burst >= tonumber(ARGV[1]) or steady >= tonumber(ARGV[2]) then
  return {0, burst, steady}
end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
if redis.call('INCR', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
return {1, burst, steady}
"""


def _ttl(seconds: int) -> int:
    """How long (in real seconds) a window's counter outlives its first request. Window keys carry their
    window number, so the TTL only cleans up; it must outlast the window even when the app's clock is
    frozen or slow (tests), hence two minutes at least."""
    return max(2 * seconds, 120)


class LimiterUnavailable(APIError):
    status, code, title = 503, "service_unavailable", "Service temporarily unavailable."


class RedisLimiter:
    def __init__(self, url: str, *, fail_open: bool = True, prefix: str = "localviyo:rl") -> None:
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        self._script = self._redis.register_script(_SCRIPT)
        self._fail_open = fail_open
        self._prefix = prefix

    def _key(self, key: str, seconds: int, now: float) -> str:
        return f"{self._prefix}:{key}:{seconds}:{math.floor(now / seconds)}"

    def hit(self, key: str, limits: Limits, now: float) -> Decision | None:
        burst, steady = limits.burst, limits.steady
        keys = [self._key(key, burst.seconds, now), self._key(key, steady.seconds, now)]
        try:
            _, burst_count, steady_count = self._script(
                keys=keys, args=[burst.amount, steady.amount, _ttl(burst.seconds), _ttl(steady.seconds)]
            )
        except redis.exceptions.RedisError:
            if self._fail_open:
                return None
            raise LimiterUnavailable(UNAVAILABLE, pointer="/data/") from None
        return decide((int(burst_count), int(steady_count)), limits, now)

    def reset(self) -> None:
        for key in self._redis.scan_iter(match=f"{self._prefix}:*", count=1000):
            self._redis.delete(key)

    def close(self) -> None:
        self._redis.close()
