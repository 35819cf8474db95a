"""The benchmarks measured on one server at a time rather than in turns: the HTTP-stack reference, and
localviyo on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from bench import stores, workloads
from bench.environment import src_version
from bench.measure import series
from bench.run import LOCALVIYO, REF_HTTP, Run
from bench.servers import free_port, launched, localviyo_argv, reference_argv
from bench.workloads import BENCHMARKS, FILTER, GET, UPDATE


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
