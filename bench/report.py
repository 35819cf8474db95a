"""Ratios to the references, the targets of the performance issue, and the printed tables."""

from __future__ import annotations

import statistics
from typing import Any

from bench import pages
from bench.checkouts import Variant
from bench.workloads import BENCHMARKS

SERVERS = ("localviyo", "ref-storage", "ref-http")
MILLION = 1_000_000


def _find(records: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    for record in records:
        if all(record.get(name) == value for name, value in match.items()):
            return record
    return None


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator else None


def with_ratios(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each localviyo and ref-storage record gains its ratios to the references of the same workload
    (same benchmark and connections; same SQLite store size for the storage reference)."""
    out = []
    for record in records:
        record = dict(record)
        base = {"benchmark": record["benchmark"], "connections": record["connections"]}
        if record["server"] != "ref-http":
            http = _find(records, server="ref-http", **base)
            if http is not None:
                record["rps_vs_http"] = _ratio(record["rps"], http["rps"])
        if is_localviyo(record["server"]) and record["store"] == "sqlite":
            storage = _find(records, server="ref-storage", store="sqlite", size=record["size"], **base)
            if storage is not None:
                record["rps_vs_storage"] = _ratio(record["rps"], storage["rps"])
                record["p99_vs_storage"] = _ratio(record["p99_ms"], storage["p99_ms"])
        out.append(record)
    return out


def is_localviyo(server: str) -> bool:
    """localviyo itself or one of its --variant servers."""
    return server == "localviyo" or server.startswith("variant-")


def _order(server: str) -> tuple[int, str]:
    """localviyo, its variants, then the references."""
    return (0 if server == "localviyo" else 1 if server.startswith("variant-") else 2 + SERVERS.index(server), server)


def _target(name: str, measured: float | None, limit: str, passed: bool | None, note: str = "") -> dict[str, Any]:
    return {"target": name, "measured": measured, "limit": limit, "passed": passed, "note": note}


def targets(result: dict[str, Any], sizes: tuple[int, ...], connections: tuple[int, ...]) -> list[dict[str, Any]]:
    """The targets of the performance issue, each passed, failed, or None when its runs were not made."""
    records: list[dict[str, Any]] = result["runs"]
    small, large = min(sizes), max(sizes)
    at32 = 32 if 32 in connections else connections[0]
    found: list[dict[str, Any]] = []

    def lv(benchmark: str, size: int, conns: int) -> dict[str, Any] | None:
        return _find(records, benchmark=benchmark, store="sqlite", size=size, connections=conns, server="localviyo")

    for conns in connections:
        record = lv("update", small, conns)
        ratio = None if record is None else record.get("rps_vs_storage")
        found.append(
            _target(
                f"update req/s >= 80% of storage reference ({small:,} profiles, {conns} conns)",
                ratio,
                ">= 0.80",
                None if ratio is None else ratio >= 0.8,
            )
        )
    record = lv("update", small, at32)
    ratio = None if record is None else record.get("p99_vs_storage")
    found.append(
        _target(
            f"update p99 <= 1.5x storage reference's ({small:,} profiles, {at32} conns)",
            ratio,
            "<= 1.50",
            None if ratio is None else ratio <= 1.5,
        )
    )
    for conns in connections:
        first, last = lv("update", small, conns), lv("update", large, conns)
        scale = None if first is None or last is None or large == small else _ratio(last["rps"], first["rps"])
        notes = [] if large >= MILLION or scale is None else [f"measured at {large:,}, the target is at {MILLION:,}"]
        if scale is not None and first is not None and last is not None:
            notes.append(per_round(first.get("rounds_rps"), last.get("rounds_rps")))
            notes.append(CACHE_NOTES.get(result.get("options", {}).get("os_cache", ""), ""))
        found.append(
            _target(
                f"update req/s at {large:,} within 10% of {small:,} ({conns} conns)",
                scale,
                ">= 0.90",
                None if scale is None else scale >= 0.9,
                "; ".join(note for note in notes if note),
            )
        )
    for benchmark in ("get", "filter"):
        record = lv(benchmark, large, at32)
        p99 = None if record is None else record["p99_ms"]
        what = "by id" if benchmark == "get" else "by email (filter)"
        found.append(
            _target(
                f"lookup {what} p99 < 10 ms ({large:,} profiles, {at32} conns)",
                p99,
                "< 10 ms",
                None if p99 is None else p99 < 10,
                "" if large >= MILLION or p99 is None else f"measured at {large:,}, the target is at {MILLION:,}",
            )
        )
    memory = result["memory_kb"].get(f"sqlite-{large}", {})
    peak = memory.get("VmHWM")
    found.append(
        _target(
            f"peak RSS < 200 MB ({large:,} profiles, after the lookup and update runs)",
            None if peak is None else round(peak / 1024, 1),
            "< 200 MB",
            None if peak is None else peak / 1024 < 200,
            "" if large >= MILLION or peak is None else f"measured at {large:,}, the target is at {MILLION:,}",
        )
    )
    return found


# What the OS cache kept of the stores while they were measured (bench/oscache.py).
CACHE_NOTES = {
    "held": "stores held in the OS cache",
    "as-is": "stores left to the OS, which may drop a large one's pages while it is measured",
}


def per_round(small: list[float] | None, large: list[float] | None) -> str:
    """The ratio of two servers' rates round by round, as a spread: a round's two turns run within a
    minute of each other, so the drift of a VM's speed over a run mostly cancels out of each ratio."""
    if not small or not large or len(small) != len(large):
        return ""
    ratios = sorted(after / before for before, after in zip(small, large, strict=True) if before)
    if len(ratios) < 2:
        return ""
    median = statistics.median(ratios)
    return f"round by round: median {median:.2f}, {ratios[0]:.2f} to {ratios[-1]:.2f} over {len(ratios)} rounds"


def _cell(value: float | None, form: str) -> str:
    return "—" if value is None else format(value, form)


def _variant(text: str) -> str:
    variant = Variant.parse(text)
    code = "localviyo" if variant.rev is None else f"localviyo at {variant.rev}"
    return f"{code} serve … {' '.join(variant.flags)}".rstrip()


def tables(result: dict[str, Any]) -> str:
    records: list[dict[str, Any]] = result["runs"]
    lines: list[str] = []
    header = (
        f"{'store':<14} {'profiles':>9} {'conns':>5}  {'server':<11} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'errors':>6}  {'rps/stor':>8} {'p99/stor':>8} {'rps/http':>8} {'other':>5} {'steal':>5}"
    )
    for benchmark in BENCHMARKS:
        rows = [record for record in records if record["benchmark"] == benchmark.name]
        if not rows:
            continue
        rows.sort(
            key=lambda r: (
                r["store"] != "sqlite",
                r["store"] == "any",
                r["size"],
                r["connections"],
                _order(r["server"]),
            )
        )
        lines += ["", f"{benchmark.title}: {benchmark.request}", header, "-" * len(header)]
        for r in rows:
            size = "—" if r["server"] == "ref-http" else f"{r['size']:,}"
            lines.append(
                f"{r['store']:<14} {size:>9} {r['connections']:>5}  {r['server']:<11} {r['rps']:>9,.0f}"
                f" {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['non_2xx'] + r['socket_errors']:>6}"
                f"  {_cell(r.get('rps_vs_storage'), '8.2f'):>8} {_cell(r.get('p99_vs_storage'), '8.2f'):>8}"
                f" {_cell(r.get('rps_vs_http'), '8.2f'):>8} {_cell(r.get('other_cores'), '5.2f'):>5}"
                f" {_cell(r.get('steal_cores'), '5.2f'):>5}"
            )
    variants = result.get("options", {}).get("variants") or []
    if variants:
        lines += [""] + [f"variant-{n} = {_variant(text)}" for n, text in enumerate(variants, start=1)]
    if result.get("memory_kb"):
        lines += ["", "Memory of the localviyo server after its runs (VmHWM = peak RSS)"]
        for name, figures in result["memory_kb"].items():
            hwm, rss = figures.get("VmHWM"), figures.get("VmRSS")
            lines.append(
                f"  {name:<20} VmHWM {_cell(None if hwm is None else hwm / 1024, '.1f')} MB"
                f"   VmRSS {_cell(None if rss is None else rss / 1024, '.1f')} MB"
            )
    if result.get("startup"):
        startup = result["startup"]
        samples = ", ".join(f"{s * 1000:.0f}" for s in startup["samples_s"])
        lines += ["", f"Startup (launch to first HTTP answer, empty store): median {startup['median_s'] * 1000:.0f} ms"]
        lines.append(f"  samples (ms): {samples}")
    if result.get("fixture_startup"):
        fixture = result["fixture_startup"]
        samples = ", ".join(f"{s * 1000:.0f}" for s in fixture["samples_s"])
        lines.append(f"pytest fixture, first test's setup: median {fixture['median_s'] * 1000:.0f} ms ({samples})")
    if result.get("reset"):
        reset = result["reset"]
        if reset.get("available"):
            lines.append(
                f"Reset ({reset['endpoint']}, {reset['profiles']} profiles): median {reset['median_s'] * 1000:.1f} ms"
            )
        else:
            lines.append(f"Reset: not measured ({reset.get('note')})")
    if result.get("pages"):
        lines += pages.table(result["pages"])
    lines += ["", "Targets"]
    for target in result["targets"]:
        verdict = {True: "PASS", False: "FAIL", None: "n/a "}[target["passed"]]
        measured = target["measured"]
        note = f"  ({target['note']})" if target["note"] else ""
        lines.append(f"  {verdict}  {target['target']}: {_cell(measured, '.3g')} (want {target['limit']}){note}")
    for reason in result.get("skipped", []):
        lines.append(f"  skipped: {reason}")
    servers_of: dict[str, set[str]] = {}
    for record in records:
        if record.get("src"):
            servers_of.setdefault(record["src"], set()).add(record["server"])
    if servers_of:
        versions = [f"{src} ({', '.join(sorted(servers_of[src]))})" for src in sorted(servers_of)]
        lines.append(
            f"localviyo code measured: {'; '.join(versions)} (last commit of src[+hash of uncommitted src changes])"
        )
    load = result["load_average"]
    lines += ["", "other = cores used by other work on the machine during the measurement (not the server, not wrk)"]
    lines += ["steal = cores the hypervisor gave to other guests while this machine had work (/proc/stat steal)"]
    lines += [f"load average before {load['before']}, after {load['after']}"]
    return "\n".join(lines)
