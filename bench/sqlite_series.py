"""The SQLite benchmarks: localviyo, its variants and the storage reference on a store of every size, all
taking turns, with the paging cursors each size needs (harvested from small stores, made for large ones)."""

from __future__ import annotations

import json
import random
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench import oscache, stores, workloads
from bench.checkouts import Variant, checkout, src_at
from bench.environment import src_version
from bench.measure import CheckFailed, paired, request
from bench.run import LOCALVIYO, REF_STORAGE, Options, Run
from bench.servers import Server, free_port, launched, localviyo_argv, reference_argv
from bench.workloads import FILTER, GET, PAGING, UPDATE, Benchmark
from bench.wrk import Workload

WALK_LIMIT = 100_000  # up to this size paging cursors are harvested by following links.next; beyond, made
DEEP_CURSORS = 2000  # cursors made at random depths for larger stores


def harvest_cursors(server: Server, key: str, tmp: Path, size: int) -> tuple[Path, Path]:
    """Walk the listing through links.next: (file of cursors, file of the id each page starts after)."""
    headers = dict(workloads.headers(key, write=False))
    cursors, afters = [], []
    path = "/api/profiles/?page%5Bsize%5D=100"
    for _ in range(WALK_LIMIT // 100 + 1):
        status, answer = request(server, "GET", path, headers)
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
        status, answer = request(server, "GET", path, headers)
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
    databases: list[Path]  # every server's copy of the store
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
    variants = [Variant.parse(text) for text in run.options.variants]
    with ExitStack() as stack:
        code: dict[int, dict[str, str]] = {}  # the environment of a variant that runs another commit's code
        for number, variant in enumerate(variants, start=1):
            if variant.rev is not None:
                code[number] = stack.enter_context(checkout(variant.rev, tmp / f"variant-{number}-code"))
                run.variant_src[f"variant-{number}"] = src_at(variant.rev)
                run.log(f"  variant-{number}: the code of {variant.rev} (src {run.variant_src[f'variant-{number}']})")
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
            databases = [database, reference_database]
            variant_servers = []
            for number, variant in enumerate(variants, start=1):
                copy = stores.working_copy(built, tmp / f"variant-{number}-stores")
                stack.callback(stores.remove_database, copy)
                databases.append(copy)
                variant_port = free_port()
                argv = localviyo_argv(f"sqlite:///{copy}", variant_port, *variant.flags)
                launch = launched(f"variant-{number}", argv, tmp / "logs", port=variant_port, env=code.get(number))
                variant_servers.append(stack.enter_context(launch))
            served.append(_Served(built, server, reference_server, variant_servers, databases))
        if run.options.os_cache == "held":
            held = sum(stack.enter_context(oscache.hold(database)) for one in served for database in one.databases)
            run.log(f"  stores held in the OS cache while measured: {held / 1e6:,.0f} MB (--os-cache as-is: not)")
        for one in served:
            if PAGING in wanted:
                if one.built.size <= WALK_LIMIT:
                    one.paging = harvest_cursors(one.localviyo, one.built.key, tmp, one.built.size)
                else:
                    one.paging = make_cursors(one.localviyo, one.built, tmp)
        for benchmark in wanted:
            _warm(run, served)
            entries = [entry for one in served for entry in one.entries(benchmark)]
            paired(run, entries, benchmark, "sqlite", tmp)
            _kept(run, served, benchmark)
        for one in served:
            run.memory[f"sqlite-{one.built.size}"] = one.localviyo.memory_kb()
    return built_stores[0]


def _warm(run: Run, served: list[_Served]) -> None:
    """Every server's store back in the OS cache before a benchmark (bench/oscache.py says why): all servers
    start alike, as a server in steady use would, whatever ran before."""
    started = time.perf_counter()
    total = sum(oscache.warm(database) for one in served for database in one.databases)
    run.log(f"  stores read into the OS cache: {total / 1e6:,.0f} MB in {time.perf_counter() - started:.1f} s")


def _kept(run: Run, served: list[_Served], benchmark: Benchmark) -> None:
    """How much of each size's stores the OS cache still held when the benchmark ended, in the log and in
    the record (`os_cache_kept`): with --os-cache as-is, what a large store lost while it was measured."""
    for one in served:
        shares = [oscache.resident(database) for database in one.databases]
        share, size = min(shares), one.built.size
        run.os_cache_kept[f"{benchmark.name}-sqlite-{size}"] = round(share, 3)
        run.log(f"  after {benchmark.name}: the OS cache held {share:.0%} or more of each {size:,}-profile store")


def _two_ports() -> tuple[int, int]:
    first, second = free_port(), free_port()
    while second == first:
        second = free_port()
    return first, second
