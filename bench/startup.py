"""How long localviyo keeps a user waiting: `serve` until it answers, the pytest fixture's first test, and a
reset through the admin endpoint."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import workloads
from bench.measure import request
from bench.run import Run
from bench.servers import Server, free_port, launched, localviyo_argv

RESET_CANDIDATES = (("POST", "/__localviyo/reset"), ("POST", "/__localviyo/reset/"), ("DELETE", "/__localviyo/state"))
_KEY = re.compile(r"pk_[a-z0-9]{34}")


def _timed(server: Server, method: str, path: str, headers: dict[str, str]) -> tuple[int, float]:
    """One request (measure.request): its status and the seconds it took."""
    started = time.perf_counter()
    status, _ = request(server, method, path, headers)
    return status, time.perf_counter() - started


def _measure_reset(run: Run, server: Server, key: str) -> None:
    reading, writing = dict(workloads.headers(key, write=False)), dict(workloads.headers(key, write=True))
    for method, path in RESET_CANDIDATES:
        status, _ = _timed(server, method, path, reading)
        if 200 <= status < 300:
            break
    else:
        run.reset = {
            "available": False,
            "note": "no admin reset endpoint answered: " + ", ".join(f"{m} {p}" for m, p in RESET_CANDIDATES),
        }
        return
    samples = []
    for sample in range(run.options.startup_samples):
        for index in range(100):
            address = f"reset.{sample}.{index}@example.com"
            body = json.dumps({"data": {"type": "profile", "attributes": {"email": address}}})
            request(server, "POST", "/api/profiles/", writing, body)
        status, seconds = _timed(server, method, path, reading)
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
