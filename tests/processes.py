"""Running `localviyo` as a user does: the command in subprocesses, `serve` on a real port."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

KEY = re.compile(r"^pk_[a-z0-9]{34}$")
REVISION = "2024-02-15"
MISSING_ID = "01GDDKASAP8TKDDA2GRZDSVP4H"  # the shape of a Klaviyo profile id; never created here


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any LOCALVIYO_* variable of the caller's, plus `extra`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LOCALVIYO_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localviyo", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=environment(env),
        timeout=timeout,
    )


def url_of(path: Path) -> str:
    return f"sqlite:///{path}"


def create_key(database: Path, *options: str) -> str:
    result = cli("keys", "create", "--database-url", url_of(database), *options)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    assert KEY.match(lines[0]), lines[0]
    return lines[0]


def list_keys(database: Path) -> list[list[str]]:
    result = cli("keys", "list", "--database-url", url_of(database))
    assert result.returncode == 0, result.stderr
    return [line.split("\t") for line in result.stdout.splitlines()]


def revoke(database: Path, key: str) -> subprocess.CompletedProcess[str]:
    return cli("keys", "revoke", "--database-url", url_of(database), key)


def stored_key_hashes(database: Path) -> list[str]:
    """The hashes in the api_keys table, read with sqlite3 (no CLI call): [] when there is no database yet."""
    if not database.exists():
        return []
    with sqlite3.connect(database) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        hashes = [row[0] for row in db.execute("SELECT hash FROM api_keys")] if "api_keys" in tables else []
    db.close()
    return hashes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    """A `localviyo serve` process that answers on `url`."""

    process: subprocess.Popen[bytes]
    url: str
    stdout_path: Path
    stderr_path: Path

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text("utf-8")

    def request(self, method: str, path: str, key: str, body: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Klaviyo-API-Key {key}", "revision": REVISION}
        if body is not None:
            headers["Content-Type"] = "application/json"
        return httpx.request(method, self.url + path, headers=headers, json=body, timeout=30)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def serving(
    directory: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    timeout: float = 20,
) -> Iterator[Served]:
    """`localviyo serve ARGS` on a free port (unless `port` is given, e.g. through LOCALVIYO_PORT), until
    it answers HTTP; always stopped on exit."""
    port = port or free_port()
    if not any(name == "LOCALVIYO_PORT" for name in env or {}):
        args = ("--port", str(port), *args)
    directory.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = directory / f"serve-{port}.out", directory / f"serve-{port}.err"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "localviyo", "serve", *args], stdout=out, stderr=err, env=environment(env)
        )
        try:
            served = Served(process, f"http://127.0.0.1:{port}", stdout_path, stderr_path)
            _wait_until_answering(served, timeout)
            yield served
        finally:
            _stop(process)


def _wait_until_answering(served: Served, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if served.process.poll() is not None:
            raise RuntimeError(f"serve exited with {served.process.returncode}: {served.stderr_path.read_text()}")
        try:
            httpx.get(served.url + "/", timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve did not answer in {timeout}s: {served.stderr_path.read_text()}") from None
            time.sleep(0.02)


def first_run_key(stdout: str) -> str:
    """The key `serve` prints on an empty store: a `localviyo: new store; ...` line, then the key alone."""
    lines = stdout.splitlines()
    assert len(lines) == 2, stdout
    assert lines[0].startswith("localviyo: new store; "), lines[0]
    assert KEY.match(lines[1]), lines[1]
    return lines[1]


def error_code(response: httpx.Response) -> str:
    errors = response.json()["errors"]
    assert len(errors) == 1, errors
    code: str = errors[0]["code"]
    return code
