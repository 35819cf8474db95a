"""The benchmark run: stores, servers, wrk series, targets, tables and the JSON record."""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import json
import os
import platform
import random
import re
import resource
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import cpu, report, stores, workloads
from bench.servers import ROOT, Server, free_port, launched, localviyo_argv, reference_argv
from bench.workloads import BENCHMARKS, FILTER, GET, PAGING, UPDATE, Benchmark
from bench.wrk import Workload, WrkResult, write_script
from bench.wrk import run as run_wrk

LOCALVIYO, REF_STORAGE, REF_HTTP = "localviyo", "ref-storage", "ref-http"
NAMES = ("update", "get", "filter", "paging", "postgres", "startup")
WALK_LIMIT = 100_000  # up to this size paging cursors are harvested by following links.next; beyond, made
DEEP_CURSORS = 2000  # cursors made at random depths for larger stores
RESET_CANDIDATES = (("POST", "/__localviyo/reset"), ("POST", "/__localviyo/reset/"), ("DELETE", "/__localviyo/state"))
_KEY = re.compile(r"pk_[a-z0-9]{34}")


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
    rounds: int = 3  # localviyo and the storage reference alternate this many times per measurement
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
    startup: dict[str, Any] | None = None
    fixture: dict[str, Any] | None = None  # the pytest fixture's first-test setup
    reset: dict[str, Any] | None = None
    stores: dict[str, float] = field(default_factory=dict)  # build seconds (0: from the cache)
    skipped: list[str] = field(default_factory=list)
    log: Callable[[str], object] = print
    src: str | None = None  # src_version() when the current server was launched

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
                "src": self.src if report.is_localviyo(server) else None,
                "rounds_rps": rounds,
            }
        )
        self.log(
            f"  {benchmark.name:<7} {store:<10} {size:>9,} {server:<11} c={result.connections:<4}"
            f" {result.rps:>9,.0f} req/s  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms"
            + (f"  non-2xx {result.non_2xx}" if result.non_2xx else "")
            + (f"  socket errors {result.socket_errors}" if result.socket_errors else "")
            + f"  cpu: server {usage['server_cores']:.2f} wrk {usage['wrk_cores']:.2f} other {usage['other_cores']:.2f}"
        )


class CheckFailed(RuntimeError):
    pass


def _request(
    server: Server, method: str, path: str, headers: dict[str, str], body: str | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, body=body.encode() if body is not None else None, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def check(server: Server, workload: Workload) -> None:
    """One request as wrk will send it must succeed, or the figures would measure error pages."""
    value = workload.values.read_text().split("\n", 1)[0]
    body = workloads.fill(workload.body, value) if workload.body is not None else None
    path = workload.prefix + value + workload.suffix
    status, answer = _request(server, workload.method, path, dict(workload.headers), body)
    if status != 200:
        raise CheckFailed(f"{server.name}: {workload.method} {path} answered {status}: {answer[:600]!r}")


def measure(
    run: Run, server: Server, script: Path, connections: int, duration: int
) -> tuple[WrkResult, dict[str, float]]:
    """One wrk run, with the CPU the server, wrk and everything else used meanwhile (in cores)."""
    options = run.options
    leftover = cpu.wait_for_idle(server.process.pid, 120)
    if leftover >= 0.05:
        run.log(f"  note: the server is still busy ({leftover:.2f} cores) after 120 s; measuring anyway")
    if options.quiet_wait > 0:
        cores = cpu.wait_for_quiet(options.quiet_wait, options.quiet_threshold, exclude=server.process.pid)
        if cores >= options.quiet_threshold:
            run.log(f"  note: other work is using {cores:.2f} cores; measuring anyway")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started, busy, own = time.perf_counter(), cpu.busy(), cpu.process_tree(server.process.pid)
    result = run_wrk(run.wrk, server.url, script, connections=connections, duration=duration, threads=options.threads)
    seconds = time.perf_counter() - started
    own = cpu.process_tree(server.process.pid) - own
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    other = max(0.0, cpu.busy() - busy - own - wrk)
    return result, {
        "server_cores": round(own / seconds, 2),
        "wrk_cores": round(wrk / seconds, 2),
        "other_cores": round(other / seconds, 2),
    }


def _prepared(
    run: Run, server: Server, benchmark: Benchmark, workload: Workload, store: str, size: int, tmp: Path
) -> Path:
    """The wrk script of `workload`, once one request as wrk sends it has succeeded and wrk has warmed up."""
    options = run.options
    check(server, workload)
    script = write_script(workload, tmp, f"{server.name}-{benchmark.name}-{store}-{size}")
    if options.warmup > 0:
        connections = options.connections[0]
        run_wrk(run.wrk, server.url, script, connections=connections, duration=options.warmup, threads=options.threads)
    return script


def series(
    run: Run,
    server: Server,
    benchmark: Benchmark,
    workload: Workload,
    store: str,
    size: int,
    tmp: Path,
    *,
    retries: bool = True,
) -> None:
    """Warm up, then one measurement per connection count. `retries`: measure again when other work ran
    meanwhile (off for PostgreSQL, whose own backends count as other work)."""
    options = run.options
    script = _prepared(run, server, benchmark, workload, store, size, tmp)
    for connections in options.connections:
        result, usage = measure(run, server, script, connections, options.duration)
        for _ in range(options.retries if retries else 0):
            if usage["other_cores"] < options.quiet_threshold:
                break
            run.log(f"  other work used {usage['other_cores']:.2f} cores during that measurement: measuring again")
            again, again_usage = measure(run, server, script, connections, options.duration)
            if again_usage["other_cores"] < usage["other_cores"]:
                result, usage = again, again_usage
        run.record(benchmark, store, size, server.name, result, usage)


def paired(
    run: Run,
    servers: list[tuple[Server, Workload, int]],
    benchmark: Benchmark,
    store: str,
    tmp: Path,
) -> None:
    """Servers measured in turns (each with its workload and the size of its store): per connection count,
    `rounds` short wrk runs each, alternating, and each server's medians recorded. This VM's speed drifts
    by 10-20% over minutes; measured in turns, the drift falls on every server alike and the ratios hold
    still: localviyo's to the storage reference's, and a size's to another's."""
    options = run.options
    scripts = [_prepared(run, server, benchmark, workload, store, size, tmp) for server, workload, size in servers]
    rounds = max(1, options.rounds)
    duration = max(1, round(options.duration / rounds))
    for connections in options.connections:
        taken: list[list[tuple[WrkResult, dict[str, float]]]] = [[] for _ in servers]
        for _ in range(rounds):
            for index, ((server, _, _), script) in enumerate(zip(servers, scripts, strict=True)):
                taken[index].append(measure(run, server, script, connections, duration))
        for (server, _, size), runs in zip(servers, taken, strict=True):
            result, usage = _median(runs)
            run.record(benchmark, store, size, server.name, result, usage, [item[0].rps for item in runs])


def _median(runs: list[tuple[WrkResult, dict[str, float]]]) -> tuple[WrkResult, dict[str, float]]:
    """The run of median req/s, with each latency figure the median of the runs' own: one stall in one
    short run moves a p99 more than it moves a throughput."""
    ordered = sorted(runs, key=lambda item: item[0].rps)
    result, usage = ordered[(len(ordered) - 1) // 2]

    def middle(name: str) -> float:
        values = sorted(getattr(item[0], name) for item in runs)
        return float(values[(len(values) - 1) // 2])

    median = dataclasses.replace(
        result,
        p50_ms=middle("p50_ms"),
        p90_ms=middle("p90_ms"),
        p99_ms=middle("p99_ms"),
        p999_ms=middle("p999_ms"),
        mean_ms=middle("mean_ms"),
    )
    return median, usage


def harvest_cursors(server: Server, key: str, tmp: Path, size: int) -> tuple[Path, Path]:
    """Walk the listing through links.next: (file of cursors, file of the id each page starts after)."""
    headers = dict(workloads.headers(key, write=False))
    cursors, afters = [], []
    path = "/api/profiles/?page%5Bsize%5D=100"
    for _ in range(WALK_LIMIT // 100 + 1):
        status, answer = _request(server, "GET", path, headers)
        if status != 200:
            raise CheckFailed(f"paging: GET {path} answered {status}: {answer[:600]!r}")
        document = json.loads(answer)
        link = document["links"]["next"]
        if not link or not document["data"]:
            break
        cursor = workloads.cursor_of(link)
        cursors.append(cursor)
        afters.append(document["data"][-1]["id"])
        path = "/api/profiles/?page%5Bsize%5D=100&page%5Bcursor%5D=" + cursor
    if not cursors:
        raise CheckFailed(f"paging: the listing of {size} profiles has no second page")
    cursor_file, after_file = tmp / f"cursors-{size}.txt", tmp / f"afters-{size}.txt"
    cursor_file.write_text("\n".join(cursors) + "\n")
    after_file.write_text("\n".join(afters) + "\n")
    return cursor_file, after_file


def make_cursors(server: Server, built: stores.BuiltStore, tmp: Path) -> tuple[Path, Path]:
    """Cursors at random depths of a store too large to walk, made as localviyo makes them (its own Cursor
    class), each one checked over HTTP: the page it opens must start right after its profile."""
    try:
        from localviyo.api.paging import Cursor

        def encode(profile_id: str) -> str:
            return Cursor(False, "id", (profile_id, profile_id)).encode()

        encode(stores.profile_id(0))
    except (ImportError, TypeError, AttributeError) as error:
        raise CheckFailed(f"paging: cannot make cursors for {built.size:,} profiles ({error})") from None
    rng = random.Random(7)
    indexes = sorted(rng.sample(range(built.size - 101), min(DEEP_CURSORS, built.size - 101)))
    headers = dict(workloads.headers(built.key, write=False))
    cursors = [encode(stores.profile_id(index)) for index in indexes]
    for index, cursor in ((indexes[0], cursors[0]), (indexes[-1], cursors[-1])):
        path = "/api/profiles/?page%5Bsize%5D=100&page%5Bcursor%5D=" + cursor
        status, answer = _request(server, "GET", path, headers)
        data = json.loads(answer)["data"] if status == 200 else None
        if not data or data[0]["id"] != stores.profile_id(index + 1):
            raise CheckFailed(f"paging: a made cursor does not open the expected page ({status}): {answer[:300]!r}")
    cursor_file, after_file = tmp / f"cursors-{built.size}.txt", tmp / f"afters-{built.size}.txt"
    cursor_file.write_text("\n".join(cursors) + "\n")
    after_file.write_text("\n".join(stores.profile_id(index) for index in indexes) + "\n")
    return cursor_file, after_file


def _wanted(options: Options) -> list[Benchmark]:
    order = (GET, FILTER, PAGING, UPDATE)  # lookups first: updates change the store
    return [b for b in order if b.name in options.only]


def _values(benchmark: Benchmark, built: stores.BuiltStore, paging: tuple[Path, Path] | None, server: str) -> Path:
    if benchmark is FILTER:
        return built.emails_file
    if benchmark is PAGING:
        assert paging is not None
        return paging[1] if server == REF_STORAGE else paging[0]
    return built.ids_file


def _workload(benchmark: Benchmark, key: str, values: Path, server: str) -> Workload:
    if benchmark is PAGING and server == REF_STORAGE:
        return workloads.reference_paging(key, values)
    return workloads.workload(benchmark, key, values)


@dataclass
class _Served:
    """One size's store, its localviyo and its storage reference, and the paging cursors if wanted."""

    built: stores.BuiltStore
    localviyo: Server
    reference: Server
    variants: list[Server]
    paging: tuple[Path, Path] | None = None

    def entries(self, benchmark: Benchmark) -> list[tuple[Server, Workload, int]]:
        built, paging = self.built, self.paging
        servers = [(self.localviyo, LOCALVIYO), *((variant, LOCALVIYO) for variant in self.variants)]
        return [
            (server, _workload(benchmark, built.key, _values(benchmark, built, paging, name), name), built.size)
            for server, name in (*servers, (self.reference, REF_STORAGE))
        ]


def sqlite_sizes(run: Run, sizes: list[int], tmp: Path) -> stores.BuiltStore | None:
    """Every size at once: a localviyo and a storage reference per size, each on its own copy of the store,
    all of them taking turns in each benchmark, so that one size is compared with another as fairly as
    localviyo with the reference. Returns the smallest store."""
    wanted = _wanted(run.options)
    if not wanted or not sizes:
        return None
    sizes = sorted(sizes)
    built_stores = [stores.sqlite_store(size, log=run.log) for size in sizes]
    for built in built_stores:
        run.stores[f"sqlite-{built.size}"] = round(built.build_seconds, 2)
    run.src = src_version()
    run.log(f"localviyo and the storage-path reference on SQLite, {', '.join(f'{s:,}' for s in sizes)} profiles,")
    run.log(f"  all in turns (src {run.src})")
    with ExitStack() as stack:
        served: list[_Served] = []
        for built in built_stores:
            database = stores.working_copy(built, tmp / "stores")
            reference_database = stores.working_copy(built, tmp / "reference-stores")
            stack.callback(stores.remove_database, database)
            stack.callback(stores.remove_database, reference_database)
            port, reference_port = _two_ports()
            env = {"BENCH_REF_DB": str(reference_database), "BENCH_REF_ACCOUNT": built.account_id}
            reference = reference_argv("bench.references:storage_app", port=reference_port, factory=True)
            server = stack.enter_context(
                launched(LOCALVIYO, localviyo_argv(f"sqlite:///{database}", port), tmp / "logs", port=port)
            )
            reference_server = stack.enter_context(
                launched(REF_STORAGE, reference, tmp / "logs", port=reference_port, env=env)
            )
            variants = []
            for number, flags in enumerate(run.options.variants, start=1):
                copy = stores.working_copy(built, tmp / f"variant-{number}-stores")
                stack.callback(stores.remove_database, copy)
                variant_port = free_port()
                argv = localviyo_argv(f"sqlite:///{copy}", variant_port, *shlex.split(flags))
                variants.append(
                    stack.enter_context(launched(f"variant-{number}", argv, tmp / "logs", port=variant_port))
                )
            served.append(_Served(built, server, reference_server, variants))
        for one in served:
            if PAGING in wanted:
                if one.built.size <= WALK_LIMIT:
                    one.paging = harvest_cursors(one.localviyo, one.built.key, tmp, one.built.size)
                else:
                    one.paging = make_cursors(one.localviyo, one.built, tmp)
        for benchmark in wanted:
            entries = [entry for one in served for entry in one.entries(benchmark)]
            paired(run, entries, benchmark, "sqlite", tmp)
        for one in served:
            run.memory[f"sqlite-{one.built.size}"] = one.localviyo.memory_kb()
    return built_stores[0]


def _two_ports() -> tuple[int, int]:
    first, second = free_port(), free_port()
    while second == first:
        second = free_port()
    return first, second


def http_reference(run: Run, built: stores.BuiltStore, tmp: Path, names: set[str]) -> None:
    wanted = [b for b in BENCHMARKS if b.name in names]
    if not wanted:
        return
    port = free_port()
    run.log("HTTP-stack reference (fixed 1.5 KB JSON)")
    with launched(REF_HTTP, reference_argv("bench.references:http_app", port), tmp / "logs", port=port) as server:
        for benchmark in wanted:
            values = built.emails_file if benchmark is FILTER else built.ids_file
            series(run, server, benchmark, workloads.workload(benchmark, built.key, values), "any", 0, tmp)


def postgres(run: Run, tmp: Path) -> None:
    options = run.options
    url = options.postgres_url
    if url is None:
        run.skipped.append("postgres: no --postgres-url")
        return
    reason = stores.postgres_available(url)
    if reason is not None:
        run.skipped.append(f"postgres: {reason}")
        run.log(f"skipping PostgreSQL: {reason}")
        return
    size = options.postgres_size
    schema = stores.postgres_store(url, size, log=run.log)
    ids = tmp / f"pg-ids-{size}.txt"
    ids.write_text("\n".join(stores.profile_id(index) for index in range(size)) + "\n")
    port = free_port()
    workers = ("--workers", str(options.postgres_workers)) if options.postgres_workers > 1 else ()
    run.src = src_version()
    run.log(f"localviyo on PostgreSQL, {size:,} profiles, {options.postgres_workers} worker(s) (src {run.src})")
    try:
        argv = localviyo_argv(schema.url, port, *workers)
        with launched(LOCALVIYO, argv, tmp / "logs", port=port) as server:
            for benchmark in (GET, UPDATE):
                workload = workloads.workload(benchmark, schema.key, ids)
                store = f"postgresql-{options.postgres_workers}w"
                series(run, server, benchmark, workload, store, size, tmp, retries=False)
    finally:
        stores.drop_postgres_schema(url, schema.schema)


def _timed(method: str, port: int, path: str, key: str) -> tuple[int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Klaviyo-API-Key {key}", "revision": workloads.REVISION}
    try:
        started = time.perf_counter()
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        conn.close()


def _measure_reset(run: Run, server: Server, key: str) -> None:
    for method, path in RESET_CANDIDATES:
        status, _ = _timed(method, server.port, path, key)
        if 200 <= status < 300:
            break
    else:
        run.reset = {
            "available": False,
            "note": "no admin reset endpoint answered: " + ", ".join(f"{m} {p}" for m, p in RESET_CANDIDATES),
        }
        return
    samples = []
    headers = {
        "Authorization": f"Klaviyo-API-Key {key}",
        "revision": workloads.REVISION,
        "Content-Type": "application/json",
    }
    for sample in range(run.options.startup_samples):
        for index in range(100):
            address = f"reset.{sample}.{index}@example.com"
            body = json.dumps({"data": {"type": "profile", "attributes": {"email": address}}})
            _request(server, "POST", "/api/profiles/", headers, body)
        status, seconds = _timed(method, server.port, path, key)
        samples.append(seconds)
    run.reset = {
        "available": True,
        "endpoint": f"{method} {path}",
        "profiles": 100,
        "samples_s": samples,
        "median_s": statistics.median(samples),
    }


def startup(run: Run, tmp: Path) -> None:
    samples: list[float] = []
    for sample in range(run.options.startup_samples):
        directory = tmp / f"startup-{sample}"
        directory.mkdir()
        port = free_port()
        argv = localviyo_argv(f"sqlite:///{directory / 'localviyo.db'}", port)
        with launched(f"startup-{sample}", argv, tmp / "logs", port=port) as server:
            samples.append(server.ready_seconds)
            if sample == run.options.startup_samples - 1:
                found = _KEY.search(server.log.read_text())
                if found:
                    _measure_reset(run, server, found.group(0))
                else:
                    run.reset = {"available": False, "note": "serve printed no first-run key"}
    run.startup = {"samples_s": samples, "median_s": statistics.median(samples)}
    run.log(f"startup: median {statistics.median(samples) * 1000:.0f} ms of {samples}")
    fixture_startup(run, tmp)


_SETUP = re.compile(r"^([0-9.]+)s setup ", re.MULTILINE)
FIXTURE_TEST = "def test_first(localviyo):\n    assert localviyo.url\n"


def fixture_startup(run: Run, tmp: Path) -> None:
    """How long the pytest fixture keeps the first test of a session waiting: the setup of
    `localviyo_server` and `localviyo`, as pytest itself times it (`--durations`)."""
    test = tmp / "fixture_startup" / "test_first.py"
    test.parent.mkdir()
    test.write_text(FIXTURE_TEST)
    samples: list[float] = []
    for _ in range(run.options.startup_samples):
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=0", "--durations-min=0"]
        done = subprocess.run([*argv, str(test)], cwd=test.parent, capture_output=True, text=True, timeout=120)
        found = _SETUP.search(done.stdout)
        if done.returncode != 0 or found is None:
            run.skipped.append(f"fixture startup: pytest failed: {done.stdout[-400:]}")
            return
        samples.append(float(found.group(1)))
    run.fixture = {"samples_s": samples, "median_s": statistics.median(samples)}
    run.log(f"fixture startup: median {statistics.median(samples) * 1000:.0f} ms of {samples}")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def src_version() -> str | None:
    """The commit of src/ and, when src/ has uncommitted changes, a hash of them: others may change the code
    while a run goes on, and every server launch records which code it ran."""
    commit = _git("rev-parse", "--short", "HEAD")
    if commit is None:
        return None
    diff = _git("diff", "HEAD", "--", "src")
    return f"{commit}+{hashlib.sha256(diff.encode()).hexdigest()[:8]}" if diff else commit


def _load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def environment(wrk: str) -> dict[str, Any]:
    wrk_version = subprocess.run([wrk, "--version"], capture_output=True, text=True).stdout.split("\n", 1)[0]
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "wrk": wrk_version.strip(),
        "packages": {name: _version(name) for name in ("localviyo", "uvicorn", "uvloop", "httptools", "msgspec")},
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--", "src")),
        "update_body_bytes": workloads.body_size(),
    }


@contextmanager
def _scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="localviyo-bench-", dir=stores.STORES) as name:
        yield Path(name)


def run_suite(options: Options, wrk: str, log: Callable[[str], object] = print) -> dict[str, Any]:
    run = Run(options, wrk, log=log)
    started = datetime.now(UTC)
    load_before = _load()
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
    load_after = _load()
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
        "startup": run.startup,
        "fixture_startup": run.fixture,
        "reset": run.reset,
        "skipped": run.skipped,
    }
    result["targets"] = report.targets(result, options.sizes, options.connections)
    versions = sorted({record["src"] for record in run.records if record["src"]})
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
