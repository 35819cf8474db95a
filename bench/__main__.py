"""`python -m bench`: run the benchmark suite, print a table per benchmark, write the JSON record.

Exit status: 0 done (whatever the targets say), 1 a benchmark failed, 2 bad usage, 3 wrk unavailable.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import oscache, report
from bench.checkouts import CheckoutFailed, Variant
from bench.measure import CheckFailed
from bench.run import NAMES, Options
from bench.servers import ROOT, ServerFailed
from bench.suite import run_suite
from bench.wrk import WrkFailed, WrkUnavailable, ensure_wrk

WRK_UNAVAILABLE = 3
SMOKE = {
    "sizes": (500,),
    "connections": (32,),
    "duration": 1,
    "warmup": 0,
    "startup_samples": 3,
    "postgres_size": 500,
    "quiet_wait": 0.0,
    "retries": 0,
    "rounds": 1,
}
TUNABLE = (
    "sizes",
    "connections",
    "duration",
    "warmup",
    "threads",
    "postgres_workers",
    "postgres_size",
    "startup_samples",
    "quiet_wait",
    "retries",
    "rounds",
    "os_cache",
    "pin",
)


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n", 1)[0] if __doc__ else None)
    p.add_argument("--smoke", action="store_true", help="a second per measurement, a 500-profile store, no 1M store")
    p.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only these (repeatable or comma-separated): {', '.join(NAMES)}",
    )
    p.add_argument("--out", type=Path, help="JSON output (default bench/results/<UTC timestamp>.json)")
    p.add_argument("--sizes", type=_ints, help="stored profiles, comma-separated (default 10000,1000000)")
    p.add_argument("--connections", type=_ints, help="wrk connections, comma-separated (default 32,128)")
    p.add_argument("--duration", type=int, help="seconds per measurement (default 10)")
    p.add_argument("--warmup", type=int, help="seconds of warm-up before each series (default 2)")
    p.add_argument("--threads", type=int, help="wrk threads (default 1: the server gets the other core)")
    p.add_argument(
        "--postgres-url",
        help="PostgreSQL for the postgres benchmark, run on a fresh schema (default postgresql://postgres@127.0.0.1:5432/test;"
        " 'none' skips it)",
    )
    p.add_argument("--postgres-workers", type=int, help="localviyo serve --workers over PostgreSQL (default 2)")
    p.add_argument("--postgres-size", type=int, help="profiles in the PostgreSQL store (default 10000)")
    p.add_argument("--startup-samples", type=int, help="launches for the startup median (default 5)")
    p.add_argument(
        "--quiet-wait",
        type=float,
        help="seconds a measurement may wait for other work to use < 0.3 cores (default 20; 0: never)",
    )
    p.add_argument(
        "--retries",
        type=int,
        help="measure the HTTP reference again when other work used >= 0.3 cores meanwhile (default 1)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        help="turns localviyo and the storage reference take within each measurement's --duration (default 10)",
    )
    p.add_argument(
        "--variant",
        action="append",
        metavar="FLAGS",
        help="also run localviyo with these serve flags added, in turns with the others on SQLite, reported as"
        " variant-1, variant-2, ... (repeatable; e.g. --variant='--group-commit off'); a first word @REV runs"
        " the code of that commit, branch or tag instead, from a git worktree (--variant=@main)",
    )
    p.add_argument(
        "--os-cache",
        choices=oscache.MODES,
        help="held: keep every SQLite store mapped, so the OS cache keeps it while it is measured; as-is: leave"
        " the stores to the OS, whose reclaim on this machine drops a large store's pages in use (default held)",
    )
    p.add_argument(
        "--pin",
        choices=("on", "off"),
        help="on: a one-process server runs on one core (all its threads) and wrk on the other(s); off: both are"
        " left to the scheduler, and a server's second thread may use wrk's core (default off)",
    )
    p.add_argument("--no-install", action="store_true", help="do not apt-get install wrk when it is missing")
    return p


def options_from(args: argparse.Namespace) -> Options:
    values: dict[str, Any] = dict(SMOKE) if args.smoke else {}
    values["smoke"] = args.smoke
    if args.only:
        chosen = {name.strip() for item in args.only for name in item.split(",") if name.strip()}
        unknown = chosen - set(NAMES)
        if unknown:
            raise SystemExit(
                f"python -m bench: unknown --only {', '.join(sorted(unknown))} (choose from {', '.join(NAMES)})"
            )
        values["only"] = frozenset(chosen)
    for name in TUNABLE:
        value = getattr(args, name)
        if value is not None:
            values[name] = value
    if args.postgres_url is not None:
        values["postgres_url"] = None if args.postgres_url.lower() == "none" else args.postgres_url
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    values["out"] = args.out or ROOT / "bench" / "results" / f"{stamp}{'-smoke' if args.smoke else ''}.json"
    values["install_wrk"] = not args.no_install
    values["variants"] = tuple(args.variant or ())
    for text in values["variants"]:
        try:
            Variant.parse(text)
        except ValueError as error:
            raise SystemExit(f"python -m bench: {error}") from None
    return Options(**values)


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    options = options_from(parser().parse_args(argv))
    # SIGTERM (and SIGINT, which a shell's background job ignores) unwind like Ctrl-C: servers are stopped,
    # scratch copies removed.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    try:
        wrk = ensure_wrk(install=options.install_wrk)
    except WrkUnavailable as error:
        print(f"python -m bench: {error}", file=sys.stderr)
        return WRK_UNAVAILABLE
    try:
        result = run_suite(options, wrk, log=lambda line: print(line, flush=True))
    except (CheckFailed, CheckoutFailed, ServerFailed, WrkFailed) as error:
        print(f"python -m bench: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as error:
        print(f"python -m bench: interrupted ({error})", file=sys.stderr)
        return 130
    print(report.tables(result))
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
