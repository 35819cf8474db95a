"""What a run was measured on: the machine, the versions of the tools and packages, the code under test and
the load average."""

from __future__ import annotations

import hashlib
import os
import platform
import sqlite3
import subprocess
import sys
from importlib import metadata
from typing import Any

from bench import workloads
from bench.servers import ROOT
from localviyo import compiled


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git(*args: str) -> subprocess.CompletedProcess[str] | None:
    """`git ARGS` in this checkout; None when git cannot be run at all."""
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _git(*args: str) -> str | None:
    result = git(*args)
    return result.stdout.strip() if result is not None and result.returncode == 0 else None


# What decides the code a server runs: the source, and setup.py, which says which modules are compiled.
CODE = ("src", "setup.py")


def src_commit(rev: str = "HEAD") -> str | None:
    """The last commit at or before `rev` that changed src/ or setup.py (a commit of bench/ or docs alone
    does not count)."""
    return _git("log", "-1", "--format=%h", rev, "--", *CODE)


def src_version() -> str | None:
    """`src_commit()` and, when src/ or setup.py has uncommitted changes, a hash of them: others may change
    the code while a run goes on, and every server launch records which code it ran."""
    commit = src_commit()
    if commit is None:
        return None
    diff = _git("diff", "HEAD", "--", *CODE)
    return f"{commit}+{hashlib.sha256(diff.encode()).hexdigest()[:8]}" if diff else commit


def load_average() -> list[float]:
    """The load averages over 1, 5 and 15 minutes, rounded."""
    return [round(value, 2) for value in os.getloadavg()]


def environment(wrk: str) -> dict[str, Any]:
    wrk_version = subprocess.run([wrk, "--version"], capture_output=True, text=True).stdout.split("\n", 1)[0]
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "wrk": wrk_version.strip(),
        "packages": {name: _version(name) for name in ("localviyo", "uvicorn", "uvloop", "httptools", "msgspec")},
        "compiled": compiled.running_compiled(),  # localviyo's request path compiled with mypyc (setup.py)
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--", *CODE)),
        "update_body_bytes": workloads.body_size(),
    }
