"""Time and identifiers: ManualClock, ULIDs and UUIDs."""

from __future__ import annotations

import itertools
import re
import threading
import uuid
from datetime import UTC, datetime

from localviyo.clock import Ids, ManualClock, SystemClock, utc

T = datetime(2026, 11, 16, 12, 0, 0, tzinfo=UTC).timestamp()
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")


def decode(ulid: str) -> int:
    value = 0
    for char in ulid:
        value = value * 32 + CROCKFORD.index(char)
    return value


def timestamp_ms(ulid: str) -> int:
    return decode(ulid) >> 80


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(T)
    assert clock.time() == T
    assert clock.time() == T
    clock.advance(1.5)
    assert clock.time() == T + 1.5
    clock.set(T - 10)
    assert clock.time() == T - 10


def test_utc_is_timezone_aware() -> None:
    assert utc(T) == datetime(2026, 11, 16, 12, 0, 0, tzinfo=UTC)
    assert utc(T).tzinfo is UTC


def test_system_clock_is_close_to_now() -> None:
    assert abs(SystemClock().time() - datetime.now(UTC).timestamp()) < 5


def test_ulid_shape() -> None:
    ids = Ids(ManualClock(T))
    for _ in range(100):
        ulid = ids.ulid()
        assert len(ulid) == 26
        assert set(ulid) <= set(CROCKFORD)
        assert ULID.fullmatch(ulid), ulid
        assert not set(ulid) & set("ILOU")


def test_ulid_carries_the_clock_in_milliseconds() -> None:
    clock = ManualClock(T + 0.123)
    ids = Ids(clock)
    assert timestamp_ms(ids.ulid()) == int((T + 0.123) * 1000)
    clock.advance(2)
    assert timestamp_ms(ids.ulid()) == int((T + 2.123) * 1000)


def test_ulid_strictly_increasing_within_one_millisecond() -> None:
    ids = Ids(ManualClock(T))
    ulids = [ids.ulid() for _ in range(1000)]
    assert ulids == sorted(ulids)
    assert len(set(ulids)) == len(ulids)
    assert {timestamp_ms(ulid) for ulid in ulids} == {int(T * 1000)}
    # Within the millisecond each one is the previous plus one.
    values = [decode(ulid) for ulid in ulids]
    assert all(b == a + 1 for a, b in itertools.pairwise(values))


def test_ulid_strictly_increasing_across_time() -> None:
    clock = ManualClock(T)
    ids = Ids(clock)
    ulids = []
    for step in [0.0001, 0.0004, 0.001, 0.5, 1, 3600, 0.0002]:
        ulids.append(ids.ulid())
        ulids.append(ids.ulid())
        clock.advance(step)
    assert ulids == sorted(ulids)
    assert len(set(ulids)) == len(ulids)


def test_ulid_stays_increasing_when_the_clock_goes_back() -> None:
    clock = ManualClock(T)
    ids = Ids(clock)
    first = ids.ulid()
    clock.set(T - 60)
    second = ids.ulid()
    assert second > first
    assert timestamp_ms(second) == int(T * 1000)


def test_ulid_later_millisecond_sorts_after_many_in_an_earlier_one() -> None:
    clock = ManualClock(T)
    ids = Ids(clock)
    earlier = [ids.ulid() for _ in range(50)]
    clock.advance(0.001)
    assert ids.ulid() > max(earlier)


def test_ulid_unique_across_threads() -> None:
    ids = Ids(ManualClock(T))
    results: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        made = [ids.ulid() for _ in range(500)]
        with lock:
            results.extend(made)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 4000


def test_ids_reproducible_with_a_seed() -> None:
    def run(seed: int) -> list[str]:
        clock = ManualClock(T)
        ids = Ids(clock, seed=seed)
        made = []
        for _ in range(5):
            made += [ids.ulid(), ids.uuid(), ids.ulid()]
            clock.advance(0.25)
        return made

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_ids_without_seed_differ() -> None:
    a, b = Ids(ManualClock(T)), Ids(ManualClock(T))
    assert a.ulid() != b.ulid()
    assert a.uuid() != b.uuid()


def test_uuids_are_valid_v4() -> None:
    for ids in (Ids(ManualClock(T)), Ids(ManualClock(T), seed=1)):
        made = [ids.uuid() for _ in range(100)]
        assert len(set(made)) == 100
        for text in made:
            parsed = uuid.UUID(text)
            assert parsed.version == 4
            assert parsed.variant == uuid.RFC_4122
            assert str(parsed) == text
            assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", text)
