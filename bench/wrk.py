"""The external load generator: wrk, driven by a Lua script the suite writes for each workload.

The script loads a file of values (profile ids, URL-encoded emails, page cursors) into memory once per
wrk thread, and every request picks one at random: `PREFIX .. value .. SUFFIX` is the path and, for
writes, the body template is filled with the value and fresh random numbers, so every PATCH really
changes the profile. `done()` prints the figures as one JSON line (latency percentiles from wrk's
histogram, in microseconds), which is what the suite reads; `--latency` also prints wrk's own table.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

INSTALL_HINT = "install it with `apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk` (macOS)"
MARKER = "BENCH_JSON "


class WrkUnavailable(RuntimeError):
    pass


def ensure_wrk(*, install: bool = True, log: object = print) -> str:
    """The path of wrk; installs it with apt-get when missing and allowed (root, apt-get present)."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if not install or apt is None or os.geteuid() != 0:
        why = "--no-install given" if not install else "apt-get missing" if apt is None else "not root"
        raise WrkUnavailable(f"wrk is not installed ({why}): {INSTALL_HINT}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    attempts = ([apt, "install", "-y", "-q", "wrk"], [apt, "update", "-q"], [apt, "install", "-y", "-q", "wrk"])
    output = ""
    for command in attempts:
        if callable(log):
            log("bench: " + " ".join(command))
        try:
            result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as error:
            output = str(error)
            continue
        output = result.stdout[-2000:] + result.stderr[-2000:]
        if shutil.which("wrk"):
            break
    found = shutil.which("wrk")
    if not found:
        raise WrkUnavailable(f"wrk is not installed and `apt-get install -y wrk` failed: {output.strip()}")
    return found


@dataclass(frozen=True, slots=True)
class Workload:
    """What wrk sends: METHOD PREFIX<value>SUFFIX, a value drawn at random from `values` per request."""

    method: str
    prefix: str
    suffix: str
    values: Path
    headers: tuple[tuple[str, str], ...]
    body: str | None = None  # string.format template: %s is the value, then RANDOM_INTS %d's


RANDOM_INTS = 5  # how many %d a body template takes after its %s


def _lua_string(text: str) -> str:
    level = "=" * 4
    assert f"]{level}]" not in text
    return f"[{level}[{text}]{level}]"


def pack_values(source: Path, target: Path) -> int:
    """`source`'s lines, each padded with spaces to one width, into `target`; returns the record width.

    The script reads them as one block of C memory (LuaJIT's ffi), outside the Lua heap: a table of a
    million strings made LuaJIT's collector stall wrk's thread for ~100 ms at a time, and even one 27 MB
    Lua string still stalled it for 30-40 ms now and then, in every latency it measured (bench/ROUNDS.md,
    tenth round). Without ffi, the script falls back to one Lua string.
    """
    values = [line for line in source.read_text().split("\n") if line]
    if not values:
        raise ValueError(f"{source} has no values")
    width = max(len(value) for value in values)
    if any(" " in value for value in values):
        raise ValueError(f"{source}: values must not contain spaces")
    target.write_text("".join(value.ljust(width) + "\n" for value in values))
    return width + 1


def lua_script(workload: Workload, packed: Path, width: int) -> str:
    """The script for `workload`, reading its values from `packed` (see pack_values), `width` bytes each."""
    headers = ", ".join(f"[ {_lua_string(name)} ] = {_lua_string(value)}" for name, value in workload.headers)
    body = _lua_string(workload.body) if workload.body is not None else "nil"
    randoms = ", ".join(["math.random(1, 999999)"] * RANDOM_INTS)
    return f"""-- written by bench/wrk.py
local has_ffi, ffi = pcall(require, "ffi")  -- LuaJIT's, in every wrk build
if has_ffi then
  ffi.cdef[[
    void *malloc(size_t size);
    typedef struct FILE FILE;
    FILE *fopen(const char *path, const char *mode);
    size_t fread(void *data, size_t size, size_t count, FILE *stream);
    int fclose(FILE *stream);
  ]]
else
  ffi = nil
end
local blob = nil
local count = 0
local width = {width}
local method = {_lua_string(workload.method)}
local prefix = {_lua_string(workload.prefix)}
local suffix = {_lua_string(workload.suffix)}
local body_template = {body}
local headers = {{ {headers} }}
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_number or 0) * 7919)
  local path = {_lua_string(str(packed))}
  local file = assert(io.open(path, "rb"))
  local size = file:seek("end")
  count = math.floor(size / width)
  assert(count > 0 and count * width == size, "values file is not packed")
  if ffi then
    file:close()
    blob = ffi.cast("char *", ffi.C.malloc(size))
    assert(blob ~= nil, "no memory for the values")
    local stream = ffi.C.fopen(path, "rb")
    assert(stream ~= nil, "cannot open the values file")
    assert(ffi.C.fread(blob, 1, size, stream) == size, "short read of the values file")
    ffi.C.fclose(stream)
  else
    file:seek("set")
    blob = file:read("*a")
    file:close()
  end
end

local function pick()
  local start = (math.random(count) - 1) * width
  local padded = ffi and ffi.string(blob + start, width - 1) or string.sub(blob, start + 1, start + width - 1)
  return string.match(padded, "^[^ ]+")
end

function request()
  local value = pick()
  local body = nil
  if body_template then
    body = string.format(body_template, value, {randoms})
  end
  return wrk.format(method, prefix .. value .. suffix, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{MARKER}{{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,'
    .. '"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
"""


def write_script(workload: Workload, directory: Path, name: str) -> Path:
    """The Lua script for `workload` and its packed values, in `directory`; returns the script's path."""
    packed = directory / f"{name}.values"
    width = pack_values(workload.values, packed)
    script = directory / f"{name}.lua"
    script.write_text(lua_script(workload, packed, width))
    return script


@dataclass(frozen=True, slots=True)
class WrkResult:
    connections: int
    threads: int
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    mean_ms: float
    non_2xx: int  # wrk's "status" errors: responses with a status of 400 or more
    socket_errors: int  # connect + read + write + timeout

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


class WrkFailed(RuntimeError):
    pass


def run(
    wrk: str,
    url: str,
    script: Path,
    *,
    connections: int,
    duration: int,
    threads: int,
    timeout_s: int = 10,
    cores: frozenset[int] | None = None,
) -> WrkResult:
    threads = max(1, min(threads, connections))
    command = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--latency"]
    command += ["--timeout", f"{timeout_s}s", "-s", str(script), url]
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=duration + 120,
            preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None,
        )
    except subprocess.TimeoutExpired as error:
        raise WrkFailed(f"wrk did not finish: {' '.join(command)}") from error
    line = next((line for line in result.stdout.splitlines() if line.startswith(MARKER)), None)
    if result.returncode != 0 or line is None:
        raise WrkFailed(f"wrk failed ({result.returncode}): {' '.join(command)}\n{result.stdout}\n{result.stderr}")
    figures = json.loads(line[len(MARKER) :])
    seconds = figures["duration_us"] / 1e6
    return WrkResult(
        connections=connections,
        threads=threads,
        requests=figures["requests"],
        duration_s=round(seconds, 3),
        rps=round(figures["requests"] / seconds, 1) if seconds else 0.0,
        p50_ms=figures["p50_us"] / 1000,
        p90_ms=figures["p90_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        p999_ms=figures["p999_us"] / 1000,
        max_ms=figures["max_us"] / 1000,
        mean_ms=round(figures["mean_us"] / 1000, 3),
        non_2xx=figures["status"],
        socket_errors=figures["connect"] + figures["read"] + figures["write"] + figures["timeout"],
    )
