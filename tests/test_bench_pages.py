"""bench/pages.py measures what pages cost on this machine's disk: every region it is given is measured in
turns, on a scratch file it removes, and the table says how the largest store's pages compare with the
smallest's. No figure is checked (machines differ), only that each is a real measurement."""

from __future__ import annotations

from pathlib import Path

from bench import pages
from bench.run import Options, Run


def test_every_region_is_measured_and_the_scratch_file_removed(tmp_path: Path) -> None:
    regions = {500: 40 * pages.PAGE + 100, 50_000: 4000 * pages.PAGE}
    rows = pages.page_costs(regions, tmp_path, rounds=2, batches=2)
    assert [row["profiles"] for row in rows] == [500, 50_000]
    assert [row["region_bytes"] for row in rows] == [40 * pages.PAGE, 4000 * pages.PAGE]  # whole pages
    for row in rows:
        for name in ("pwrite_us", "pwrite_cpu_us", "fdatasync_us", "fdatasync_cpu_us", "pread_cpu_us"):
            assert row[name] > 0, (row["profiles"], name)
        assert row["pwrite_us"] < 1e6 and row["fdatasync_us"] < 1e6  # µs a page, not a turn's seconds
    assert list(tmp_path.iterdir()) == []


def test_a_region_smaller_than_a_batch_is_written_whole(tmp_path: Path) -> None:
    (row,) = pages.page_costs({10: 3 * pages.PAGE}, tmp_path, rounds=1, batches=1)
    assert row["region_bytes"] == 3 * pages.PAGE and row["pwrite_us"] > 0


def test_the_table_compares_the_largest_store_with_the_smallest() -> None:
    row = {"pwrite_us": 9.0, "fdatasync_us": 40.0, "pread_cpu_us": 1.5}
    small = {**row, "profiles": 10_000, "region_bytes": 14_000_000, "pwrite_cpu_us": 8.0, "fdatasync_cpu_us": 10.0}
    large = {**row, "profiles": 1_000_000, "region_bytes": 1_400_000_000, "pwrite_cpu_us": 30.0}
    large["fdatasync_cpu_us"] = 24.0
    lines = pages.table([small, large])
    assert any(line.split()[:2] == ["1,000,000", "1,400"] and line.split()[6] == "54.0" for line in lines), lines
    assert lines[-1] == "write-back CPU a page, 1,000,000 profiles: 3.00x that at 10,000"


def test_without_room_for_the_scratch_file_the_run_goes_on_and_says_why(tmp_path: Path) -> None:
    run = Run(Options(sizes=(500, 10**12), rounds=1), wrk="wrk", log=lambda line: None)
    pages.pages(run, tmp_path)  # a region for 10¹² profiles: no disk here holds it
    assert run.pages == []
    (reason,) = run.skipped
    assert reason.startswith("pages: the scratch file needs ") and reason.endswith(" MB are free"), reason
    assert list(tmp_path.iterdir()) == []
