"""A benchmark run: the options it is given and the record of what it has measured, as written to the JSON file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import report
from bench.servers import ROOT
from bench.workloads import Benchmark
from bench.wrk import WrkResult

LOCALVIYO, REF_STORAGE, REF_HTTP = "localviyo", "ref-storage", "ref-http"
NAMES = ("update", "get", "filter", "paging", "postgres", "startup", "pages")


@dataclass(frozen=True, slots=True)
class Options:
    smoke: bool = False
    only: frozenset[str] = frozenset(NAMES)
    sizes: tuple[int, ...] = (10_000, 1_000_000)
    connections: tuple[int, ...] = (32, 128)
    duration: int = 10
    warmup: int = 2
    threads: int = 1
    postgres_url: str | None = "postgresql://postgres@127.0.0.1:5432/test"
    postgres_size: int = 10_000
    postgres_workers: int = 2
    startup_samples: int = 5
    quiet_wait: float = 20.0  # seconds a measurement may wait for other work to calm down
    quiet_threshold: float = 0.3  # cores of other work that count as calm
    retries: int = 1  # measurements taken again when other work ran meanwhile (the calmer one is kept)
    rounds: int = 10  # turns each server takes per measurement (three could not tell 0.84 from 0.97: README)
    os_cache: str = "held"  # held: the SQLite stores are kept in the OS cache while measured (bench/oscache.py)
    pin: str = "off"  # on: a one-process server keeps to one core and wrk to the others (cpu.split_cores)
    out: Path = ROOT / "bench" / "results" / "latest.json"
    install_wrk: bool = True
    # Other localviyo servers, each launched with these `serve` flags added, taking turns with the rest on
    # SQLite and reported as variant-1, variant-2, ...: to measure what a setting is worth.
    variants: tuple[str, ...] = ()


@dataclass
class Run:
    """Everything measured, as written to the JSON file."""

    options: Options
    wrk: str
    records: list[dict[str, Any]] = field(default_factory=list)
    memory: dict[str, dict[str, int]] = field(default_factory=dict)  # "sqlite-1000000" -> VmHWM/VmRSS kB
    os_cache_kept: dict[str, float] = field(default_factory=dict)  # "update-sqlite-1000000" -> least share cached
    startup: dict[str, Any] | None = None
    fixture: dict[str, Any] | None = None  # the pytest fixture's first-test setup
    reset: dict[str, Any] | None = None
    pages: list[dict[str, Any]] = field(default_factory=list)  # bench/pages.py, a row per store size
    stores: dict[str, float] = field(default_factory=dict)  # build seconds (0: from the cache)
    skipped: list[str] = field(default_factory=list)
    log: Callable[[str], object] = print
    src: str | None = None  # src_version() when the current server was launched
    variant_src: dict[str, str] = field(default_factory=dict)  # a variant at another commit: that code's src

    def record(
        self,
        benchmark: Benchmark,
        store: str,
        size: int,
        server: str,
        result: WrkResult,
        usage: dict[str, float],
        rounds: list[float] | None = None,
    ) -> None:
        self.records.append(
            {
                "benchmark": benchmark.name,
                "store": store,
                "size": size,
                "server": server,
                **result.as_dict(),
                **usage,
                "src": self.variant_src.get(server, self.src) if report.is_localviyo(server) else None,
                "rounds_rps": rounds,
            }
        )
        self.log(
            f"  {benchmark.name:<7} {store:<10} {size:>9,} {server:<11} c={result.connections:<4}"
            f" {result.rps:>9,.0f} req/s  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms"
            + (f"  non-2xx {result.non_2xx}" if result.non_2xx else "")
            + (f"  socket errors {result.socket_errors}" if result.socket_errors else "")
            + f"  cpu: server {usage['server_cores']:.2f}"
            + (f" (loop {usage['loop_cores']:.2f})" if "loop_cores" in usage else "")
            + f" wrk {usage['wrk_cores']:.2f} other {usage['other_cores']:.2f}"
            + f" steal {usage['steal_cores']:.2f}"
        )
