"""Measuring workloads on running servers with wrk: one request checked first, then a series of measurements
per connection count, either one server at a time or several in turns (medians of short runs)."""

from __future__ import annotations

import dataclasses
import http.client
import random
import resource
import time
from pathlib import Path

from bench import cpu, workloads
from bench.run import Run
from bench.servers import Server
from bench.workloads import Benchmark
from bench.wrk import Workload, WrkResult, write_script
from bench.wrk import run as run_wrk


class CheckFailed(RuntimeError):
    pass


def request(
    server: Server, method: str, path: str, headers: dict[str, str], body: str | None = None
) -> tuple[int, bytes]:
    """One HTTP request to `server`: (status, body)."""
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
    status, answer = request(server, workload.method, path, dict(workload.headers), body)
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
    pid = server.process.pid
    own, loop = cpu.process_tree(pid), cpu.main_thread(pid)
    started, (busy, stolen) = time.perf_counter(), cpu.machine()
    result = _wrk(run, server, script, connections, duration)
    seconds = time.perf_counter() - started
    own, loop_after = cpu.process_tree(pid) - own, cpu.main_thread(pid)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    busy_after, stolen_after = cpu.machine()
    stolen = stolen_after - stolen
    other = max(0.0, busy_after - busy - own - wrk)
    usage = {
        "server_cores": round(own / seconds, 2),
        "wrk_cores": round(wrk / seconds, 2),
        "other_cores": round(other / seconds, 2),
        "steal_cores": round(stolen / seconds, 3),
    }
    if loop is not None and loop_after is not None:  # a server of one process: its event loop's share
        usage["loop_cores"] = round((loop_after - loop) / seconds, 2)
    return result, usage


def _wrk(run: Run, server: Server, script: Path, connections: int, duration: int) -> WrkResult:
    """wrk against `server`; with `--pin on`, the server on a core of its own and wrk on the others."""
    cores = cpu.split_cores() if run.options.pin == "on" else None
    if cores is not None and not cpu.pin_process(server.process.pid, cores[0]):
        cores = None  # a server of several processes: neither is pinned
    return run_wrk(
        run.wrk,
        server.url,
        script,
        connections=connections,
        duration=duration,
        threads=run.options.threads,
        cores=cores[1] if cores else None,
    )


def _prepared(
    run: Run, server: Server, benchmark: Benchmark, workload: Workload, store: str, size: int, tmp: Path
) -> Path:
    """The wrk script of `workload`, once one request as wrk sends it has succeeded and wrk has warmed up."""
    options = run.options
    check(server, workload)
    script = write_script(workload, tmp, f"{server.name}-{benchmark.name}-{store}-{size}")
    if options.warmup > 0:
        connections = options.connections[0]
        _wrk(run, server, script, connections, options.warmup)
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
    `rounds` short wrk runs each, in an order shuffled each round (`turn_order`), and each server's medians
    recorded. This VM's speed drifts by 10-20% over minutes; measured in turns, the drift falls on every
    server alike and the ratios hold still: localviyo's to the storage reference's, and a size's to
    another's."""
    options = run.options
    scripts = [_prepared(run, server, benchmark, workload, store, size, tmp) for server, workload, size in servers]
    rounds = max(1, options.rounds)
    duration = max(1, round(options.duration / rounds))
    for connections in options.connections:
        taken: list[list[tuple[WrkResult, dict[str, float]]]] = [[] for _ in servers]
        for turn in range(rounds):
            # Where a server stands in the order of turns moved its figures (a control run of identical
            # servers, bench/ROUNDS.md, sixth round), so the order changes from round to round.
            for index in turn_order(len(servers), turn):
                taken[index].append(measure(run, servers[index][0], scripts[index], connections, duration))
        for (server, _, size), runs in zip(servers, taken, strict=True):
            result, usage = _median(runs)
            run.record(benchmark, store, size, server.name, result, usage, [item[0].rps for item in runs])


def turn_order(count: int, turn: int) -> list[int]:
    """The servers' indexes in the order they take turn `turn`: a shuffle of its own each round, the same in
    every run, so that no server always stands at the same place or follows the same server."""
    order = list(range(count))
    random.Random(turn).shuffle(order)
    return order


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
