"""Drive Klaviyo's official Python SDK, each version in its own venv.

Runs in the main test environment (stdlib only). The SDK itself runs in a
cached venv per version, behind driver.py, spoken to over JSON lines.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

SDK_DIR = Path(__file__).resolve().parent
DRIVER = SDK_DIR / "driver.py"

# The revision header each pinned SDK version sends.
REVISIONS: dict[str, str] = {"7.0.0": "2024-02-15", "25.0.0": "2026-10-15"}
VERSIONS: tuple[str, ...] = tuple(REVISIONS)

_MARKER = ".complete"
_STDERR_TAIL_LINES = 200

# Substrings pip prints when it cannot reach an index at all, as opposed to a
# resolution or build failure that must fail the tests.
_OFFLINE_MARKERS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "No route to host",
    "ConnectTimeoutError",
    "Connection refused",
    "ProxyError",
)


class SDKVenvError(RuntimeError):
    """Creating an SDK venv failed; `output` holds what pip printed."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(f"{message}\n{output}")
        self.output = output


class SDKVenvOffline(SDKVenvError):
    """Creating an SDK venv failed because the package index was unreachable."""


class SDKDriverError(RuntimeError):
    """The driver subprocess died or broke the protocol."""


class SDKTimeoutError(SDKDriverError, TimeoutError):
    pass


class SDKError(Exception):
    """The SDK raised its ApiException: the server answered with an error."""

    def __init__(
        self,
        status: int,
        reason: str,
        body: str,
        headers: dict[str, str],
        data: Any = None,
    ) -> None:
        super().__init__(f"HTTP {status} {reason}: {body[:2000]}")
        self.status = status
        self.reason = reason
        self.body = body
        self.headers = headers
        # 25.x only: the error body as parsed by the SDK's error model, or
        # None when the body did not fit that model.
        self.data = data

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None


class SDKClientError(Exception):
    """Anything else the SDK raised, e.g. a pydantic error for a response
    that does not match its model."""

    def __init__(self, type_name: str, message: str, traceback: str = "") -> None:
        super().__init__(f"{type_name}: {message}")
        self.type = type_name
        self.message = message
        self.traceback = traceback


def requirements_file(version: str) -> Path:
    return SDK_DIR / f"requirements-{version.split('.')[0]}.txt"


def cache_dir() -> Path:
    configured = os.environ.get("LOCALVIYO_SDK_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "localviyo" / "sdk-venvs"


def venv_dir(version: str) -> Path:
    # A venv is bound to the interpreter that made it, so the Python version
    # is part of the name along with the requirements' content.
    py = f"py{sys.version_info.major}{sys.version_info.minor}"
    digest = hashlib.sha256(requirements_file(version).read_bytes())
    digest.update(py.encode())
    return cache_dir() / f"klaviyo-api-{version}-{py}-{digest.hexdigest()[:12]}"


def _child_env() -> dict[str, str]:
    # Keep the main environment's packages out of the SDK venv.
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"):
        env.pop(name, None)
    return env


def _run(cmd: Sequence[str], what: str) -> None:
    proc = subprocess.run(
        list(cmd),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_child_env(),
        check=False,
    )
    if proc.returncode != 0:
        output = proc.stdout
        offline = any(marker in output for marker in _OFFLINE_MARKERS)
        cls = SDKVenvOffline if offline else SDKVenvError
        raise cls(f"{what} failed with exit code {proc.returncode}: {' '.join(cmd)}", output)


def ensure_venv(version: str) -> Path:
    """Return the python of a complete venv holding klaviyo-api `version`."""
    requirements = requirements_file(version)
    if not requirements.is_file():
        raise ValueError(f"no pinned requirements for klaviyo-api {version}: {requirements}")
    venv = venv_dir(version)
    python = venv / "bin" / "python"
    marker = venv / _MARKER

    def complete() -> bool:
        # The interpreter check catches a venv whose base Python went away.
        return marker.is_file() and python.exists()

    if complete():
        return python

    venv.parent.mkdir(parents=True, exist_ok=True)
    lock_path = venv.parent / f"{venv.name}.lock"
    with lock_path.open("a") as lock:
        # xdist workers serialize here; the loser finds the marker afterwards.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if complete():
            return python
        # Whatever is there was left by an interrupted build.
        shutil.rmtree(venv, ignore_errors=True)
        try:
            _run([sys.executable, "-m", "venv", str(venv)], "python -m venv")
            _run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "--timeout",
                    "60",
                    "--retries",
                    "3",
                    "-r",
                    str(requirements),
                ],
                "pip install",
            )
            probe = "import importlib.metadata as m, klaviyo_api; print(m.version('klaviyo-api'))"
            check = subprocess.run(
                [str(python), "-I", "-c", probe],
                capture_output=True,
                text=True,
                env=_child_env(),
                check=False,
            )
            if check.returncode != 0 or check.stdout.strip() != version:
                raise SDKVenvError(
                    f"klaviyo-api {version} is not importable from {venv}",
                    check.stdout + check.stderr,
                )
        except BaseException:
            shutil.rmtree(venv, ignore_errors=True)
            raise
        # Written last: its presence is what makes the venv reusable.
        marker.write_text(requirements.read_text())
    return python


class SDKRunner:
    """One long-lived driver subprocess for one SDK version."""

    def __init__(self, version: str, *, timeout: float = 60.0) -> None:
        self.version = version
        self.timeout = timeout
        self.python = ensure_venv(version)
        self._proc: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        self._threads: list[threading.Thread] = []
        self._next_id = 0
        # Which typed model 25.x returned for the last successful call (None
        # for plain dicts, e.g. 7.x or 25.x with sparse fieldsets).
        self.last_model: str | None = None
        # Calls from several threads would interleave replies.
        self._lock = threading.Lock()
        self._start()

    def _start(self) -> None:
        self._replies = queue.Queue()
        self._stderr = collections.deque(maxlen=_STDERR_TAIL_LINES)
        # -I: ignore PYTHON* variables and the user site, so nothing from the
        # main environment leaks into the SDK's imports.
        proc = subprocess.Popen(
            [str(self.python), "-I", str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
            env=_child_env(),
        )
        assert proc.stdout is not None and proc.stderr is not None
        replies, stderr = self._replies, self._stderr

        def pump_stdout(stream: Any) -> None:
            for line in stream:
                replies.put(line)
            replies.put(None)

        def pump_stderr(stream: Any) -> None:
            for line in stream:
                stderr.append(line)

        self._threads = [
            threading.Thread(target=pump_stdout, args=(proc.stdout,), daemon=True),
            threading.Thread(target=pump_stderr, args=(proc.stderr,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self._proc = proc

    def _reap(self, proc: subprocess.Popen[str]) -> int:
        # Wait for the pumps to see EOF before closing the pipes, so the
        # stderr tail is complete and no ResourceWarning is left behind.
        if proc.poll() is None:
            proc.kill()
        code = proc.wait()
        for thread in self._threads:
            thread.join(timeout=5)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                # stdin may still hold data the dead process never read.
                with contextlib.suppress(OSError):
                    stream.close()
        return code

    def stderr_tail(self) -> str:
        return "".join(self._stderr)

    def _died(self, why: str) -> SDKDriverError:
        proc, self._proc = self._proc, None
        code = None if proc is None else self._reap(proc)
        return SDKDriverError(
            f"klaviyo-api {self.version} driver {why} (exit code {code}); its stderr:\n{self.stderr_tail()}"
        )

    def request(self, payload: Mapping[str, Any], *, timeout: float | None = None) -> Any:
        """Send one raw driver request; return its `ok` value or raise."""
        with self._lock:
            if self._proc is None:
                self._start()  # the previous one died or timed out
            proc = self._proc
            assert proc is not None and proc.stdin is not None
            self._next_id += 1
            request_id = self._next_id
            line = json.dumps({**payload, "id": request_id})
            try:
                proc.stdin.write(line + "\n")
                proc.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                raise self._died(f"refused a request ({exc})") from exc
            limit = self.timeout if timeout is None else timeout
            try:
                raw = self._replies.get(timeout=limit)
            except queue.Empty:
                # The driver is mid-call; a fresh one is the only clean state.
                err = self._died(f"did not answer within {limit}s")
                raise SDKTimeoutError(f"{err}\nrequest: {line[:2000]}") from None
            if raw is None:
                raise self._died("exited")
            try:
                reply = json.loads(raw)
            except ValueError:
                raise self._died(f"wrote a line that is not JSON: {raw[:2000]!r}") from None
            if reply.get("id") != request_id:
                raise self._died(f"answered request {reply.get('id')} instead of {request_id}")
        if "ok" in reply:
            self.last_model = reply.get("model")
            return reply["ok"]
        error = reply["error"]
        if error["kind"] == "api":
            raise SDKError(error["status"], error["reason"], error["body"], error["headers"], error.get("data"))
        raise SDKClientError(error["type"], error["message"], error.get("traceback", ""))

    def call(
        self,
        key: str,
        host: str,
        api: str,
        method: str,
        *args: Any,
        options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        return self.invoke(key, host, api, method, args, kwargs, options=options)

    def invoke(
        self,
        key: str,
        host: str,
        api: str,
        method: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Like call(), with args and kwargs passed as values, so a method's
        own `options` keyword (25.x has one) can be passed too."""
        payload = {
            "key": key,
            "host": host,
            "options": dict(options or {}),
            "api": api,
            "method": method,
            "args": list(args),
            "kwargs": dict(kwargs or {}),
        }
        return self.request(payload, timeout=timeout)

    def sdk_version(self) -> str:
        return str(self.request({"op": "version"}))

    def revision(self) -> str:
        return str(self.request({"op": "revision"}))

    def client(self, key: str, host: str, options: Mapping[str, Any] | None = None) -> SDKClient:
        return SDKClient(self, key, host, options)

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is None:
                return
            assert proc.stdin is not None
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                proc.stdin.close()  # EOF ends the driver's read loop
                proc.wait(timeout=5)
            self._reap(proc)

    def __enter__(self) -> SDKRunner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SDKClient:
    """A runner bound to one account key, server and KlaviyoAPI options."""

    def __init__(
        self,
        runner: SDKRunner,
        key: str,
        host: str,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.runner = runner
        self.key = key
        self.host = host
        self.options = dict(options or {})

    @property
    def version(self) -> str:
        return self.runner.version

    def call(self, api: str, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.runner.invoke(self.key, self.host, api, method, args, kwargs, options=self.options)
