"""`localviyo serve --workers N` on localviyo's HTTP server: N processes answer on one port, share the
store, a worker that dies is replaced, and SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx
import pytest
from processes import first_run_key, serving

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="the worker processes are found through /proc")


def workers_of(pid: int) -> set[int]:
    """The spawned worker processes under supervisor `pid` (multiprocessing's resource tracker is not one)."""
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"multiprocessing.spawn" in cmdline:
                found.add(int(child))
    return found


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_workers_share_the_store_are_replaced_and_stop_together(tmp_path: Path) -> None:
    database = tmp_path / "store.db"
    with serving(tmp_path, "--workers", "2", "--database-url", f"sqlite:///{database}") as served:
        key = first_run_key(served.stdout)
        wait_for(lambda: len(workers_of(served.process.pid)) == 2)
        first = workers_of(served.process.pid)

        created = served.request(
            "POST", "/api/profiles/", key, {"data": {"type": "profile", "attributes": {"email": "w@x.io"}}}
        )
        assert created.status_code == 201
        profile = f"/api/profiles/{created.json()['data']['id']}/"
        # New connections land on either worker: every one of them finds the profile.
        assert {served.request("GET", profile, key).status_code for _ in range(20)} == {200}

        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(workers_of(served.process.pid)) == 2 and victim not in workers_of(served.process.pid))
        assert {served.request("GET", profile, key).status_code for _ in range(10)} == {200}
        survivors = workers_of(served.process.pid)

        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=30) == 0
    for pid in survivors:
        wait_for(partial(_gone, pid))
    with pytest.raises(httpx.TransportError):
        httpx.get(served.url, timeout=2)


def _gone(pid: int) -> bool:
    """Process `pid` has exited (a zombie, not yet reaped by the test run, counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
