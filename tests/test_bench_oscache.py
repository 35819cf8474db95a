"""What the suite keeps of its stores in the OS cache (bench/oscache.py), checked with mincore(2) on real
files: a store dropped from the cache is all there again while held, and the mapping goes with the block."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import oscache
from bench.__main__ import options_from, parser

SIZE = 4 * 1024 * 1024


def _dropped(path: Path) -> Path:
    """`path` written, flushed and dropped from the OS cache (clean pages go at once); skips the test on a
    kernel that keeps them, where bringing them back would show nothing."""
    with path.open("wb") as file:
        file.write(os.urandom(SIZE))
        file.flush()
        os.fsync(file.fileno())
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)
    if oscache.resident(path) > 0.5:
        pytest.skip("this kernel kept the file cached after POSIX_FADV_DONTNEED, so bringing it back shows nothing")
    return path


def _mapped(path: Path) -> bool:
    return str(path) in Path("/proc/self/maps").read_text()


def test_a_held_store_is_all_in_the_cache_and_unmapped_afterwards(tmp_path: Path) -> None:
    store = _dropped(tmp_path / "store.db")
    with oscache.hold(store) as held:
        assert held == SIZE
        assert oscache.resident(store) == 1.0
        assert _mapped(store)
    assert not _mapped(store)


def test_warm_reads_the_whole_file_into_the_cache(tmp_path: Path) -> None:
    store = _dropped(tmp_path / "store.db")
    assert oscache.warm(store) == SIZE
    assert oscache.resident(store) == 1.0
    assert not _mapped(store)


def test_an_empty_file_is_held_as_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    with oscache.hold(empty) as held:
        assert held == 0
    assert oscache.resident(empty) == 1.0


def test_the_stores_are_held_unless_asked_not_to_be() -> None:
    assert options_from(parser().parse_args([])).os_cache == "held"
    assert options_from(parser().parse_args(["--os-cache", "as-is"])).os_cache == "as-is"
    with pytest.raises(SystemExit):
        parser().parse_args(["--os-cache", "sometimes"])
