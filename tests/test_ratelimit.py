"""Rate limits: Klaviyo's notation, the fixed clock-aligned windows, and what a refusal says."""

from __future__ import annotations

import pytest

from localviyo.ratelimit import Decision, Limits, MemoryLimiter, Rate, decide

# On a minute boundary, so the steady window of a test starts with it.
T = 1_800_000_000.0
assert T % 60 == 0
LARGE = Limits.parse("75/s", "700/m")  # Klaviyo's L tier


def hits(limiter: MemoryLimiter, n: int, now: float, key: str = "acct", limits: Limits = LARGE) -> list[Decision]:
    return [limiter.hit(key, limits, now) for _ in range(n)]


# --- Rate and Limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [("75/s", Rate(75, 1)), ("700/m", Rate(700, 60)), ("1/s", Rate(1, 1)), ("3500/m", Rate(3500, 60))],
    ids=["burst", "steady", "one", "xl"],
)
def test_rate_parse_klaviyo_notation(text: str, rate: Rate) -> None:
    assert Rate.parse(text) == rate


@pytest.mark.parametrize(
    "text",
    ["", "75", "75/h", "75/S", "/s", "-1/s", "1.5/s", "75 /s", " 75/s", "75/sec", "s/75", "75/ms", "seventy/s"],
)
def test_rate_parse_rejects_other_text(text: str) -> None:
    with pytest.raises(ValueError, match="invalid rate"):
        Rate.parse(text)


def test_limits_parse_burst_and_steady() -> None:
    assert Limits(Rate(75, 1), Rate(700, 60)) == LARGE
    with pytest.raises(ValueError, match="invalid rate"):
        Limits.parse("75/s", "700")


# --- decide() -----------------------------------------------------------------------------------------


def test_decide_first_request_reports_the_steady_window() -> None:
    assert decide((0, 0), LARGE, T) == Decision(True, 700, 699, 60, 0)


def test_decide_last_slot_leaves_zero_remaining() -> None:
    assert decide((74, 699), LARGE, T + 10.5) == Decision(True, 700, 0, 50, 0)


@pytest.mark.parametrize(
    ("now", "reset"),
    [(T, 60), (T + 0.4, 60), (T + 12.3, 48), (T + 59.0, 1), (T + 59.999, 1), (T + 60, 60)],
    ids=["start", "fraction", "middle", "last-second", "almost-over", "next-window"],
)
def test_decide_reset_is_whole_seconds_to_the_steady_window_end(now: float, reset: int) -> None:
    decision = decide((0, 0), LARGE, now)
    assert decision.reset == reset
    assert type(decision.reset) is int


def test_decide_burst_exhausted() -> None:
    decision = decide((75, 100), LARGE, T + 10.25)
    assert decision == Decision(False, 700, 0, 50, 1)


def test_decide_steady_exhausted() -> None:
    assert decide((0, 700), LARGE, T + 50.5) == Decision(False, 700, 0, 10, 10)


def test_decide_both_exhausted_waits_for_the_later_window() -> None:
    assert decide((75, 700), LARGE, T + 30.2) == Decision(False, 700, 0, 30, 30)


def test_decide_counts_over_the_limit_are_refused() -> None:
    assert not decide((80, 0), LARGE, T).allowed
    assert not decide((0, 900), LARGE, T).allowed


@pytest.mark.parametrize("now", [T + 5.0, T + 5.5, T + 5.999999], ids=["boundary", "middle", "end"])
def test_decide_retry_after_is_a_positive_integer(now: float) -> None:
    retry_after = decide((75, 0), LARGE, now).retry_after
    assert retry_after == 1
    assert type(retry_after) is int


# --- MemoryLimiter ------------------------------------------------------------------------------------


def test_limiter_burst_of_75_then_429_for_one_second() -> None:
    limiter = MemoryLimiter()
    decisions = [limiter.hit("acct", LARGE, T + i / 100) for i in range(75)]
    assert all(d.allowed for d in decisions)
    assert [d.remaining for d in decisions] == list(range(699, 624, -1))
    refused = limiter.hit("acct", LARGE, T + 0.8)
    assert refused == Decision(False, 700, 0, 60, 1)
    again = limiter.hit("acct", LARGE, T + 1.0)
    assert again.allowed
    assert again.remaining == 700 - 75 - 1


def test_limiter_steady_700_across_many_seconds_then_refused_until_the_minute_ends() -> None:
    limiter = MemoryLimiter()
    for second in range(50):
        for j in range(14):
            decision = limiter.hit("acct", LARGE, T + second + j * 0.05)
            assert decision.allowed, (second, j)
    assert decision.remaining == 0
    assert limiter.hit("acct", LARGE, T + 50.5) == Decision(False, 700, 0, 10, 10)
    assert limiter.hit("acct", LARGE, T + 58.0).retry_after == 2
    assert limiter.hit("acct", LARGE, T + 59.5).retry_after == 1
    fresh = limiter.hit("acct", LARGE, T + 60.0)
    assert fresh == Decision(True, 700, 699, 60, 0)


def test_limiter_refused_requests_are_not_counted() -> None:
    limiter = MemoryLimiter()
    assert all(d.allowed for d in hits(limiter, 75, T + 0.1))
    assert not any(d.allowed for d in hits(limiter, 50, T + 0.5))
    # Burst window: the refusals did not carry over nor count; a full burst passes again.
    assert all(d.allowed for d in hits(limiter, 75, T + 1.1))
    assert not limiter.hit("acct", LARGE, T + 1.2).allowed
    # Steady window: 150 counted, not 200 or 201.
    assert limiter.hit("acct", LARGE, T + 2.0).remaining == 700 - 150 - 1


def test_limiter_refusals_do_not_prolong_a_steady_429() -> None:
    limiter = MemoryLimiter()
    small = Limits.parse("10/s", "20/m")
    assert all(d.allowed for d in hits(limiter, 10, T, limits=small) + hits(limiter, 10, T + 1, limits=small))
    for second in range(2, 60):
        assert not limiter.hit("acct", small, T + second).allowed
    assert limiter.hit("acct", small, T + 60) == Decision(True, 20, 19, 60, 0)


def test_limiter_remaining_and_reset_follow_the_steady_window() -> None:
    limiter = MemoryLimiter()
    assert limiter.hit("acct", LARGE, T + 12.3) == Decision(True, 700, 699, 48, 0)
    assert limiter.hit("acct", LARGE, T + 30.0) == Decision(True, 700, 698, 30, 0)
    assert limiter.hit("acct", LARGE, T + 59.9) == Decision(True, 700, 697, 1, 0)


def test_limiter_windows_are_aligned_to_the_clock() -> None:
    limiter = MemoryLimiter()
    # A first request at :30 sees a steady window ending at :60, not at :90.
    assert limiter.hit("acct", LARGE, T + 30.0).reset == 30
    # 75 requests late in one second, then more just after the second turns: a new burst window.
    assert all(d.allowed for d in hits(limiter, 75, T + 31.95))
    assert not limiter.hit("acct", LARGE, T + 31.99).allowed
    assert limiter.hit("acct", LARGE, T + 32.0).allowed
    # The steady window turns at the minute, however recent the last request.
    assert all(d.allowed for d in hits(limiter, 75, T + 59.99))
    assert limiter.hit("acct", LARGE, T + 60.0).remaining == 699


def test_limiter_old_windows_do_not_count() -> None:
    limiter = MemoryLimiter()
    hits(limiter, 70, T + 10)
    assert limiter.hit("acct", LARGE, T + 70).remaining == 699
    assert limiter.hit("acct", LARGE, T + 3600).remaining == 699


def test_limiter_keys_are_independent() -> None:
    limiter = MemoryLimiter()
    hits(limiter, 75, T, key="account-a")
    assert not limiter.hit("account-a", LARGE, T + 0.5).allowed
    other = limiter.hit("account-b", LARGE, T + 0.5)
    assert other == Decision(True, 700, 699, 60, 0)
    assert limiter.hit("account-a", LARGE, T + 1).remaining == 700 - 75 - 1


def test_limiter_reset_forgets_every_count() -> None:
    limiter = MemoryLimiter()
    hits(limiter, 75, T)
    assert not limiter.hit("acct", LARGE, T).allowed
    limiter.reset()
    assert limiter.hit("acct", LARGE, T) == Decision(True, 700, 699, 60, 0)


def test_limiter_tiny_tier_one_per_second() -> None:
    limiter = MemoryLimiter()
    xs = Limits.parse("1/s", "15/m")
    assert limiter.hit("acct", xs, T + 0.5).allowed
    assert limiter.hit("acct", xs, T + 0.6) == Decision(False, 15, 0, 60, 1)
    assert limiter.hit("acct", xs, T + 1.5) == Decision(True, 15, 13, 59, 0)
