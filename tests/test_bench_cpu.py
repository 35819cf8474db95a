"""bench/cpu.py's pinning (`--pin on`), on real processes: the server's threads keep to its core, a server
of several processes is left alone."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench import cpu

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="pinning needs sched_setaffinity and at least two usable cores",
)

UP = "print('up', flush=True); time.sleep(60)"
THREADED = f"import threading, time; threading.Thread(target=time.sleep, args=(60,)).start(); {UP}"
PARENT = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); {UP}"


@contextmanager
def started(code: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline() == "up\n"
        yield process
    finally:
        for child in cpu._children(process.pid):
            os.kill(child, 9)
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _threads(pid: int) -> list[int]:
    return [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()]


def test_split_gives_the_server_one_core_and_wrk_the_rest() -> None:
    split = cpu.split_cores()
    assert split is not None
    server, wrk = split
    assert len(server) == 1 and wrk and not server & wrk
    assert server | wrk == os.sched_getaffinity(0)


def test_every_thread_of_a_one_process_server_is_pinned() -> None:
    server, _ = cpu.split_cores() or (frozenset(), frozenset())
    with started(THREADED) as process:
        assert len(_threads(process.pid)) == 2
        assert cpu.pin_process(process.pid, server)
        assert {frozenset(os.sched_getaffinity(thread)) for thread in _threads(process.pid)} == {server}


def test_a_server_of_several_processes_is_left_to_the_scheduler() -> None:
    server, _ = cpu.split_cores() or (frozenset(), frozenset())
    with started(PARENT) as process:
        assert cpu._children(process.pid)
        assert not cpu.pin_process(process.pid, server)
        assert os.sched_getaffinity(process.pid) == os.sched_getaffinity(0)


def test_steal_is_counted_apart_from_busy_time() -> None:
    """`machine()` gives busy time without steal, and steal apart: with idle and iowait, they add up to the
    machine's whole /proc/stat line (guest time is already inside user and nice)."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy, steal = cpu.machine()
    whole = (sum(values) - sum(values[8:10])) / cpu.TICK
    # Read within a moment of each other: a few ticks apart at most (0.01 s each).
    assert abs(steal - values[7] / cpu.TICK) < 0.05
    assert abs(busy + steal + (values[3] + values[4]) / cpu.TICK - whole) < 0.05
