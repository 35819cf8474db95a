"""The scale target's round-by-round spread (bench/report.py)."""

from __future__ import annotations

from bench.report import per_round, targets


def test_per_round_pairs_the_rounds_of_the_two_sizes() -> None:
    # Round 2 ran on a slower VM at both sizes: its ratio (0.95) is like the others'.
    small = [10_000.0, 6_000.0, 10_000.0, 11_000.0]
    large = [9_000.0, 5_700.0, 9_300.0, 9_900.0]
    assert per_round(small, large) == "round by round: median 0.92, 0.90 to 0.95 over 4 rounds"


def test_per_round_needs_two_rounds_of_each() -> None:
    assert per_round(None, [1.0, 2.0]) == ""
    assert per_round([1.0], [1.0]) == ""
    assert per_round([1.0, 2.0], [1.0, 2.0, 3.0]) == ""


def _record(size: int, rps: float, rounds: list[float]) -> dict[str, object]:
    return {
        "benchmark": "update",
        "store": "sqlite",
        "size": size,
        "server": "localviyo",
        "connections": 32,
        "rps": rps,
        "p99_ms": 5.0,
        "rounds_rps": rounds,
    }


def test_the_scale_target_notes_its_spread() -> None:
    result = {
        "runs": [
            _record(10_000, 10_000.0, [9_000.0, 10_000.0, 11_000.0]),
            _record(1_000_000, 8_800.0, [8_550.0, 8_800.0, 9_000.0]),
        ],
        "memory_kb": {},
    }
    scale = next(t for t in targets(result, (10_000, 1_000_000), (32,)) if "within 10%" in t["target"])
    assert scale["measured"] == 0.88
    assert scale["passed"] is False
    assert scale["note"] == "round by round: median 0.88, 0.82 to 0.95 over 3 rounds"


def test_the_scale_target_says_what_the_os_cache_kept_of_the_stores() -> None:
    runs = [_record(10_000, 10_000.0, [10_000.0, 10_000.0]), _record(1_000_000, 9_500.0, [9_500.0, 9_500.0])]
    for mode, note in (("held", "stores held in the OS cache"), ("as-is", "stores left to the OS")):
        result = {"runs": runs, "memory_kb": {}, "options": {"os_cache": mode}}
        scale = next(t for t in targets(result, (10_000, 1_000_000), (32,)) if "within 10%" in t["target"])
        assert scale["passed"] is True
        assert scale["note"].startswith("round by round: median 0.95, 0.95 to 0.95 over 2 rounds; " + note)
