"""The benchmark suite keeps working: `python -m bench --smoke` (a second per measurement, a 500-profile store,
no 1,000,000 store) runs every benchmark end to end, and every request it sends succeeds.

No benchmark figure is checked here (CI machines differ); only that the suite runs, measures what it says
and writes its record. Skipped only when wrk cannot be installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
WRK_UNAVAILABLE = 3  # python -m bench's exit status when wrk is missing and cannot be installed


def _bench(out: Path, *more: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m bench --smoke --rounds 2 --out OUT …`; skips the test when wrk cannot be installed."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LOCALVIYO_")}
    env.update(env_extra or {})
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--rounds", "2", "--out", str(out), *more],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if result.returncode == WRK_UNAVAILABLE:
        pytest.skip(f"wrk cannot be installed: {result.stderr.strip()}")
    return result


def _run(out: Path, *more: str, env_extra: dict[str, str] | None = None) -> dict[str, Any]:
    result = _bench(out, *more, env_extra=env_extra)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Targets" in result.stdout
    record: dict[str, Any] = json.loads(out.read_text())
    return record


def test_bench_smoke(tmp_path: Path) -> None:
    record = _run(tmp_path / "smoke.json")
    assert record["smoke"] is True
    runs = record["runs"]
    for run in runs:
        where = f"{run['benchmark']} on {run['server']} ({run['store']}, {run['connections']} connections)"
        assert run["requests"] > 0, where
        assert run["non_2xx"] == 0, where  # the workloads still speak the API: no 4xx/5xx
        assert run["socket_errors"] == 0, where
        assert 0 < run["p50_ms"] <= run["p99_ms"], where
        # Who used the CPU meanwhile, steal apart from other work: figures of cores on a two-core machine.
        for name in ("server_cores", "wrk_cores", "other_cores", "steal_cores"):
            assert 0 <= run[name] <= (os.cpu_count() or 1), (where, name)
        assert run["server_cores"] > 0, where
        # A one-process server's event loop, within the process's own figure (both rounded to 0.01).
        if run["store"].startswith("postgresql-") and run["store"] != "postgresql-1w":
            assert "loop_cores" not in run, where  # a supervisor and its workers: no one loop to speak of
        else:
            assert 0 < run["loop_cores"] <= run["server_cores"] + 0.01, where

    def servers(benchmark: str, store: str) -> set[str]:
        return {run["server"] for run in runs if run["benchmark"] == benchmark and run["store"] == store}

    for benchmark in ("update", "get", "filter", "paging"):
        assert servers(benchmark, "sqlite") == {"localviyo", "ref-storage"}, benchmark
        assert servers(benchmark, "any") == {"ref-http"}, benchmark
    update = next(run for run in runs if run["benchmark"] == "update" and run["server"] == "localviyo")
    assert update["rps_vs_storage"] > 0 and update["rps_vs_http"] > 0
    # On SQLite, localviyo and the storage reference take turns; each keeps its medians (of two: the lower).
    for run in runs:
        if run["store"] == "sqlite":
            assert len(run["rounds_rps"]) == 2, run
            assert run["rps"] == sorted(run["rounds_rps"])[0], run

    postgres = [run for run in runs if run["store"].startswith("postgresql")]
    if postgres:
        assert {run["benchmark"] for run in postgres} == {"get", "update"}
    else:
        assert any(reason.startswith("postgres:") for reason in record["skipped"]), record["skipped"]
        assert not os.environ.get("CI"), f"PostgreSQL was skipped in CI: {record['skipped']}"

    assert record["startup"]["median_s"] > 0
    assert record["memory_kb"]["sqlite-500"]["VmHWM"] > 0
    assert record["options"]["os_cache"] == "held"
    assert record["options"]["pin"] == "off"
    for benchmark in ("update", "get", "filter", "paging"):
        assert 0 < record["os_cache_kept"][f"{benchmark}-sqlite-500"] <= 1, record["os_cache_kept"]
    (page_costs,) = record["pages"]  # a row per store size, of which smoke mode has one
    assert page_costs["profiles"] == 500 and page_costs["pwrite_us"] > 0 and page_costs["fdatasync_us"] > 0
    names = [target["target"] for target in record["targets"]]
    assert any(name.startswith("update req/s >= 80% of storage reference") for name in names)
    assert any(name.startswith("peak RSS") for name in names)


def test_a_variant_takes_turns_with_the_others_and_runs_with_its_flags(tmp_path: Path) -> None:
    """`--variant FLAGS`: another localviyo, launched with those serve flags, measured in the same turns.
    (A flag `serve` refuses stops the run: the flags do reach the server.)"""
    refused = _bench(tmp_path / "no.json", "--only", "update", "--variant=--group-commit perhaps")
    assert refused.returncode == 1, refused.stdout[-2000:] + refused.stderr[-2000:]
    assert "variant-1" in refused.stdout + refused.stderr
    record = _run(tmp_path / "variant.json", "--only", "update", "--variant=--group-commit off --journal-size 0")
    assert record["options"]["variants"] == ["--group-commit off --journal-size 0"]
    runs = [run for run in record["runs"] if run["store"] == "sqlite"]
    assert {run["server"] for run in runs} == {"localviyo", "variant-1", "ref-storage"}
    variant = next(run for run in runs if run["server"] == "variant-1")
    assert variant["non_2xx"] == 0 and variant["socket_errors"] == 0
    assert len(variant["rounds_rps"]) == 2
    assert variant["rps_vs_storage"] > 0
    assert variant["src"] == next(run for run in runs if run["server"] == "localviyo")["src"]


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def _worktrees() -> list[str]:
    return [line for line in _git("worktree", "list", "--porcelain").splitlines() if line.startswith("worktree ")]


def test_a_variant_at_a_commit_runs_that_commits_code_from_a_worktree_it_removes(tmp_path: Path) -> None:
    """`--variant='@REV FLAGS'`: localviyo as it is at REV, in the same turns, recorded with REV's src."""
    before = _worktrees()
    variants = ("--variant=@HEAD --journal-size 0", "--variant=@HEAD")  # the same commit twice: two worktrees
    # Plain Python: compiling each worktree (bench/checkouts.py, `installed`) would add a minute a variant.
    record = _run(tmp_path / "rev.json", "--only", "update", *variants, env_extra={"LOCALVIYO_COMPILE": "0"})
    runs = {run["server"]: run for run in record["runs"] if run["store"] == "sqlite"}
    assert set(runs) == {"localviyo", "variant-1", "variant-2", "ref-storage"}
    for name in ("variant-1", "variant-2"):
        assert runs[name]["non_2xx"] == 0 and runs[name]["socket_errors"] == 0
        assert runs[name]["src"] == _git("log", "-1", "--format=%h", "HEAD", "--", "src", "setup.py")
    assert not any(reason.startswith("warning: src changed") for reason in record["skipped"])
    assert _worktrees() == before


def test_a_variant_at_a_commit_that_does_not_exist_stops_the_run_and_says_why(tmp_path: Path) -> None:
    result = _bench(tmp_path / "none.json", "--only", "update", "--variant=@no-such-branch-here")
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "no-such-branch-here" in result.stderr
    assert not (tmp_path / "none.json").exists()
