"""The benchmark suite: every benchmark asked for, in order, on scratch copies of the stores, and the JSON
record of the run (options, environment, runs with their ratios, targets)."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report, stores
from bench.environment import environment, load_average
from bench.pages import pages
from bench.run import Options, Run
from bench.single import http_reference, postgres
from bench.sqlite_series import sqlite_sizes
from bench.startup import startup
from bench.workloads import BENCHMARKS


@contextmanager
def _scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="localviyo-bench-", dir=stores.STORES) as name:
        yield Path(name)


def run_suite(options: Options, wrk: str, log: Callable[[str], object] = print) -> dict[str, Any]:
    run = Run(options, wrk, log=log)
    started = datetime.now(UTC)
    load_before = load_average()
    stores.STORES.mkdir(parents=True, exist_ok=True)
    if load_before[0] > 0.5:
        log(f"note: load average before the run is {load_before}: other work may be sharing the machine")
    with _scratch() as tmp:
        smallest = sqlite_sizes(run, list(options.sizes), tmp)
        names = {b.name for b in BENCHMARKS if b.name in options.only}
        if "postgres" in options.only:
            names |= {"get", "update"}
        if names:
            smallest = smallest or stores.sqlite_store(min(options.sizes), log=log)
            http_reference(run, smallest, tmp, names)
        if "postgres" in options.only:
            postgres(run, tmp)
        if "startup" in options.only:
            startup(run, tmp)
        if "pages" in options.only:
            pages(run, tmp)
    load_after = load_average()
    result: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "smoke": options.smoke,
        "options": _options_dict(options),
        "environment": environment(wrk),
        "load_average": {"before": load_before, "after": load_after},
        "stores_build_s": run.stores,
        "runs": report.with_ratios(run.records),
        "memory_kb": run.memory,
        "os_cache_kept": run.os_cache_kept,
        "startup": run.startup,
        "fixture_startup": run.fixture,
        "reset": run.reset,
        "pages": run.pages,
        "skipped": run.skipped,
    }
    result["targets"] = report.targets(result, options.sizes, options.connections)
    # Variants at another commit run other code on purpose; today's code is everyone else's.
    versions = sorted({r["src"] for r in run.records if r["src"] and r["server"] not in run.variant_src})
    if len(versions) > 1:
        run.skipped.append(f"warning: src changed during the run ({', '.join(versions)}): compare with care")
    return result


def _options_dict(options: Options) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in dataclasses.fields(options):
        value = getattr(options, item.name)
        values[item.name] = (
            sorted(value) if isinstance(value, frozenset) else str(value) if isinstance(value, Path) else value
        )
    return values
