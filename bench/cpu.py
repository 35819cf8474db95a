"""Who used the CPU during a measurement: the machine may be shared, and on two cores it shows.

`machine()` is the machine's busy CPU time and its steal time (the hypervisor running another guest
while ours had work) from one reading of /proc/stat, `busy()` the first of the two; `process_tree()` is
the CPU time of a process and its descendants (a `--workers` server is a supervisor and its workers),
`main_thread()` that of a one-process server's event loop alone. A
measurement records the cores used by everything else ("other CPU": neither the server nor wrk), so a
figure taken while other work ran says so, and the steal time, which on a VM comes in slices of about
10 ms that every request in flight waits out. `wait_for_quiet` holds a series back until the
machine is idle enough, for a while. `split_cores` and `pin_process` are `--pin on`: the server on one
core, wrk on the others.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _totals() -> list[int]:
    """The machine's line of /proc/stat: user nice system idle iowait irq softirq steal guest guest_nice."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return []
    return [int(value) for value in fields]


def machine() -> tuple[float, float]:
    """Seconds since boot of the whole machine's busy CPU time (steal not included) and of its steal
    time (the hypervisor running something else while this machine's CPUs had work), from one reading of
    /proc/stat, so the two are of the same instant; (0.0, 0.0) without /proc."""
    values = _totals()
    if not values:
        return 0.0, 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    guest = sum(values[8:10]) if len(values) > 9 else 0  # already counted in user and nice
    stolen = values[7] if len(values) > 7 else 0
    return (sum(values) - idle - guest - stolen) / TICK, stolen / TICK


def busy() -> float:
    """Seconds of CPU the whole machine spent busy since boot, steal not included (0.0 without /proc)."""
    return machine()[0]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def split_cores() -> tuple[frozenset[int], frozenset[int]] | None:
    """(the server's core, wrk's cores) when `--pin on` can give each its own: the last usable core for
    the server, the others for wrk; None on a single core or without affinity support."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None
    return frozenset(cores[-1:]), frozenset(cores[:-1])


def pin_process(pid: int, cores: frozenset[int]) -> bool:
    """Keep every thread of process `pid` on `cores` (threads started later inherit it from the thread
    that starts them). False when `pid` has child processes (a `--workers` server: its processes are
    left to the scheduler) or is gone."""
    if _children(pid):
        return False
    try:
        threads = [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return False
    for thread in threads:
        try:
            os.sched_setaffinity(thread, cores)
        except OSError:
            continue  # the thread ended meanwhile
    return True


def _seconds(stat: Path) -> float | None:
    """CPU seconds (user + system) in a /proc `stat` file; None once its process or thread is gone."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def process_tree(pid: int) -> float:
    """CPU seconds (user + system) used so far by `pid` and its live descendants."""
    own = _seconds(Path(f"/proc/{pid}/stat"))
    if own is None:
        return 0.0
    return own + sum(process_tree(child) for child in _children(pid))


def main_thread(pid: int) -> float | None:
    """CPU seconds used so far by the first thread of `pid`, the one that runs a one-process server's
    event loop (its checkpoint thread and the like apart); None for a server of several processes, whose
    loops are in its workers, or without /proc."""
    if _children(pid):
        return None
    return _seconds(Path(f"/proc/{pid}/task/{pid}/stat"))


def other_cores(seconds: float = 1.0, *, exclude: int | None = None) -> float:
    """Cores busy over the next `seconds`, not counting process tree `exclude`."""
    start_busy, start_own = busy(), process_tree(exclude) if exclude else 0.0
    time.sleep(seconds)
    own = (process_tree(exclude) - start_own) if exclude else 0.0
    return max(0.0, (busy() - start_busy - own) / seconds)


def wait_for_quiet(max_wait: float, threshold: float, *, exclude: int | None = None) -> float:
    """Wait (at most `max_wait` s) until other work uses under `threshold` cores; the last sample."""
    deadline = time.monotonic() + max_wait
    while True:
        cores = other_cores(0.5, exclude=exclude)
        if cores < threshold or time.monotonic() >= deadline:
            return cores


def wait_for_idle(pid: int, max_wait: float, *, threshold: float = 0.05) -> float:
    """Wait (at most `max_wait` s) until process tree `pid` is idle: a server still working off requests
    that a previous wrk run gave up on would slow the next measurement. Returns the last sample (cores)."""
    deadline = time.monotonic() + max_wait
    while True:
        start = process_tree(pid)
        time.sleep(0.2)
        cores = (process_tree(pid) - start) / 0.2
        if cores < threshold or time.monotonic() >= deadline:
            return cores
