"""Launching the servers under test as real processes on free ports, and watching them."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class ServerFailed(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without the caller's LOCALVIYO_* variables (they would change the server), plus `extra`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LOCALVIYO_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def answers(port: int, timeout: float = 1.0) -> bool:
    """Whether something on 127.0.0.1:`port` answers an HTTP request (any status)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/")
        conn.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    ready_seconds: float  # from launch to the first HTTP answer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def memory_kb(self) -> dict[str, int]:
        """VmHWM (peak RSS) and VmRSS of the process, in kB, from /proc (empty where there is no /proc)."""
        figures: dict[str, int] = {}
        try:
            text = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return figures
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                figures[name] = int(value.split()[0])
        return figures


def _wait(name: str, process: subprocess.Popen[bytes], port: int, log: Path, started: float, timeout: float) -> float:
    deadline = started + timeout
    while True:
        if process.poll() is not None:
            raise ServerFailed(f"{name} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if answers(port):
            return time.perf_counter() - started
        if time.perf_counter() > deadline:
            raise ServerFailed(f"{name} did not answer within {timeout} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.002)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def launched(
    name: str, argv: Sequence[str], logs: Path, *, port: int, env: Mapping[str, str] | None = None, timeout: float = 60
) -> Iterator[Server]:
    """Run `argv` (a server listening on `port`) until it answers HTTP; stop it on exit."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}-{port}.log"
    with log.open("wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, env=environment(env), cwd=ROOT)
        try:
            ready = _wait(name, process, port, log, started, timeout)
            yield Server(name, process, port, log, ready)
        finally:
            stop(process)


def localviyo_argv(database_url: str, port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "localviyo",
        "serve",
        "--port",
        str(port),
        "--database-url",
        database_url,
        "--rate-limits",
        "off",
        "--log-level",
        "warning",
        *extra,
    ]


def reference_argv(app: str, port: int, *, factory: bool = False) -> list[str]:
    """A reference app on the HTTP server localviyo runs on (bench/refserver.py)."""
    return [sys.executable, "-m", "bench.refserver", app, "--port", str(port), *(["--factory"] if factory else [])]
