"""What this machine charges for the pages of a store, by the store's size: the floor beneath the storage
path's scale figures, measured without SQLite or localviyo.

An update of a random profile changes pages anywhere in the file, and a checkpoint writes them back from
the WAL: a `pwrite` a page, in page order, then an `fdatasync` of the file. What a page costs then depends
on how far apart the written pages lie: across a 10,000-profile store (14 MB) or across a 1,000,000-profile
one (1.4 GB). So a scratch file as large as the largest store is written, and then, with the stores' sizes
taking turns, batches of CHECKPOINT random pages within a region as large as each store are written back
and flushed, and as many random pages of it read with `pread`. Per page: the wall time of each call and the
CPU of the thread that made it (the kernel's work, which on two cores competes with the server's own).
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import stores

if TYPE_CHECKING:  # bench.run imports the report, which prints this module's table
    from bench.run import Run

PAGE = 4096  # SQLite's page size
CHECKPOINT = 32  # pages a batch: about what localviyo's checkpoint thread copies at a time
BATCHES = 64  # batches a turn (4 in smoke mode)
SPARE = 256 << 20  # bytes the disk must keep free beside the scratch file
_FIELDS = ("pwrite_us", "pwrite_cpu_us", "fdatasync_us", "fdatasync_cpu_us", "pread_cpu_us")


def _scratch_file(path: Path, size: int) -> int:
    """A file of `size` bytes of incompressible data, flushed: every page is allocated and clean."""
    block = os.urandom(1 << 20)
    with path.open("wb") as out:
        for _ in range(0, size, len(block)):
            out.write(block)
        out.flush()
        os.fsync(out.fileno())
    return os.open(path, os.O_RDWR)


def _turn(fd: int, pages: int, batches: int, rng: random.Random) -> dict[str, float]:
    """One turn in a region of `pages` pages: the seconds each kind of call took, summed, and the pages."""
    totals = dict.fromkeys((*_FIELDS, "pages"), 0.0)
    page = os.urandom(PAGE)
    clock, cpu = time.perf_counter, time.thread_time
    for _ in range(batches):
        batch = sorted(rng.sample(range(pages), min(CHECKPOINT, pages)))
        for number in batch:
            wall0, cpu0 = clock(), cpu()
            os.pwrite(fd, page, number * PAGE)
            totals["pwrite_us"] += clock() - wall0
            totals["pwrite_cpu_us"] += cpu() - cpu0
        wall0, cpu0 = clock(), cpu()
        os.fdatasync(fd)
        totals["fdatasync_us"] += clock() - wall0
        totals["fdatasync_cpu_us"] += cpu() - cpu0
        for number in rng.sample(range(pages), len(batch)):
            cpu0 = cpu()
            os.pread(fd, PAGE, number * PAGE)
            totals["pread_cpu_us"] += cpu() - cpu0
        totals["pages"] += len(batch)
    return totals


def page_costs(
    regions: dict[int, int], directory: Path, *, rounds: int, batches: int = BATCHES, seed: int = 1
) -> list[dict[str, Any]]:
    """`regions`: profiles -> bytes of a store that size. Medians over `rounds` turns, in µs per page."""
    rng = random.Random(seed)
    pages = {size: max(1, length // PAGE) for size, length in regions.items()}
    turns: dict[int, list[dict[str, float]]] = {size: [] for size in regions}
    path = directory / "pages.scratch"
    fd = _scratch_file(path, max(pages.values()) * PAGE)
    try:
        for _ in range(rounds):
            for size in regions:
                turns[size].append(_turn(fd, pages[size], batches, rng))
    finally:
        os.close(fd)
        path.unlink()
    results = []
    for size in regions:
        row: dict[str, Any] = {"profiles": size, "region_bytes": pages[size] * PAGE}
        for name in _FIELDS:
            row[name] = statistics.median(turn[name] / turn["pages"] * 1e6 for turn in turns[size])
        results.append(row)
    return results


def pages(run: Run, tmp: Path) -> None:
    """The page costs for the run's store sizes, a region each as large as that store's file (measured on
    the smallest store, which is built if needed, and scaled)."""
    smallest = stores.sqlite_store(min(run.options.sizes), log=run.log)
    per_profile = smallest.path.stat().st_size / smallest.size
    regions = {size: int(per_profile * size) for size in sorted(run.options.sizes)}
    batches = 4 if run.options.smoke else BATCHES
    needed, free = max(regions.values()) + SPARE, shutil.disk_usage(tmp).free
    if free < needed:  # the last benchmark of a run: a full disk must not cost the run its record
        run.skipped.append(f"pages: the scratch file needs {needed / 1e6:,.0f} MB, {free / 1e6:,.0f} MB are free")
        return
    run.log(f"page costs: regions of {', '.join(f'{b / 1e6:,.0f} MB' for b in regions.values())}, {batches} batches")
    try:
        run.pages = page_costs(regions, tmp, rounds=run.options.rounds, batches=batches)
    except OSError as error:
        run.skipped.append(f"pages: {error}")


def table(rows: list[dict[str, Any]]) -> list[str]:
    """The page costs as printed after the benchmarks' tables."""
    header = (
        f"{'profiles':>10} {'region MB':>10} {'pwrite':>7} {'cpu':>6} {'fdatasync':>10} {'cpu':>6}"
        f" {'write-back cpu':>15} {'pread cpu':>10}"
    )
    lines = [
        "",
        f"Page costs: random 4 KB pages of a region as large as each store, written back {CHECKPOINT} at a time"
        " and flushed, then read (µs per page; cpu = the calling thread's)",
        header,
        "-" * len(header),
    ]
    for row in rows:
        lines.append(
            f"{row['profiles']:>10,} {row['region_bytes'] / 1e6:>10,.0f} {row['pwrite_us']:>7.1f}"
            f" {row['pwrite_cpu_us']:>6.1f} {row['fdatasync_us']:>10.1f} {row['fdatasync_cpu_us']:>6.1f}"
            f" {write_back_cpu(row):>15.1f} {row['pread_cpu_us']:>10.1f}"
        )
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        times = write_back_cpu(last) / write_back_cpu(first)
        big, small = f"{last['profiles']:,}", f"{first['profiles']:,}"
        lines.append(f"write-back CPU a page, {big} profiles: {times:.2f}x that at {small}")
    return lines


def write_back_cpu(row: dict[str, Any]) -> float:
    """CPU a page costs to write back and flush, in µs."""
    return float(row["pwrite_cpu_us"] + row["fdatasync_cpu_us"])
