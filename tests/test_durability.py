"""`--sqlite-synchronous`: how far an answer is on disk, seen as the fsyncs a running server makes.

Each level is checked on a real `localviyo serve` process with strace attached to it: full syncs the WAL
at every commit; normal only at checkpoints; off never. With `--sqlite-checkpoints thread` (the default)
the checkpoints' syncs are made by the checkpoint thread, never by the event loop's.
"""

from __future__ import annotations

import select
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from processes import Served, cli, first_run_key, serving, url_of

from localviyo import Settings, create_app
from localviyo.storage.checkpoints import ROWS
from localviyo.storage.sqlite import SQLiteStore

WRITES = 12  # fewer rows than the checkpoint thread lets pile up: the writes alone start no checkpoint
ADMIN = {"Content-Type": "application/json"}


@pytest.mark.parametrize("level", ["full", "normal", "off"])
def test_the_setting_reaches_the_connection(tmp_path: Path, level: str) -> None:
    app = create_app(Settings(database_url=url_of(tmp_path / "s.db"), sqlite_synchronous=level))
    assert isinstance(app.store, SQLiteStore)
    assert app.store.synchronous == level
    app.store.close()


def test_normal_is_the_default(tmp_path: Path) -> None:
    store = create_app(Settings(database_url=url_of(tmp_path / "d.db"))).store
    assert isinstance(store, SQLiteStore)
    assert store.synchronous == "normal"
    store.close()


def test_an_unknown_level_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous='extra'"):
        SQLiteStore(str(tmp_path / "x.db"), synchronous="extra")
    result = cli("serve", "--database-url", url_of(tmp_path / "f.db"), "--sqlite-synchronous", "extra", timeout=15)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Usage:" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "f.db").exists()


class _Syncs:
    """strace attached to a running server, recording its fsync and fdatasync calls until stopped."""

    def __init__(self, pid: int, out: Path) -> None:
        self.pid, self.out = pid, out
        command = ["strace", "-f", "-e", "trace=fsync,fdatasync", "-o", str(out), "-p", str(pid)]
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        assert self.process.stderr is not None
        ready, _, _ = select.select([self.process.stderr], [], [], 10)
        first = self.process.stderr.readline() if ready else ""
        if "attached" not in first:  # "strace: Process N attached with M threads"
            self.process.kill()
            self.process.communicate()
            pytest.skip(f"strace could not attach to the server here: {first.strip() or 'no answer in 10 s'}")

    def stop(self) -> Counter[str]:
        """The calls made, by thread: "main" (the event loop's, whose pid is the process's) or "other"."""
        self.process.send_signal(signal.SIGINT)
        self.process.communicate(timeout=10)
        calls: Counter[str] = Counter()
        for line in self.out.read_text().splitlines():
            tid, _, call = line.partition(" ")
            if "sync(" in call and "resumed" not in call:
                calls["main" if int(tid) == self.pid else "other"] += 1
        return calls


def _syncs_during(served: Served, out: Path, work: Callable[[], None]) -> Counter[str]:
    syncs = _Syncs(served.process.pid, out)
    try:
        work()
    finally:
        calls = syncs.stop()
    return calls


def _wait_for_growth(database: Path, size: int, timeout: float = 30) -> None:
    """Until pages have been copied back into the database file (by whichever thread checkpoints)."""
    deadline = time.monotonic() + timeout
    while database.stat().st_size <= size:
        assert time.monotonic() < deadline, "no checkpoint copied anything back"
        time.sleep(0.01)


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed: it counts the server's fsyncs")
@pytest.mark.parametrize("checkpoints", ["thread", "inline"])
@pytest.mark.parametrize("level", ["full", "normal", "off"])
def test_each_level_syncs_what_it_promises(tmp_path: Path, level: str, checkpoints: str) -> None:
    assert WRITES < ROWS
    database = tmp_path / "sync.db"
    flags = ("--rate-limits", "off", "--sqlite-synchronous", level, "--sqlite-checkpoints", checkpoints)
    with serving(tmp_path, "--database-url", url_of(database), *flags) as served:
        key = first_run_key(served.stdout)

        def single_writes() -> None:
            for number in range(WRITES):
                body = {"data": {"type": "profile", "attributes": {"email": f"p{number}@example.com"}}}
                response = served.request("POST", "/api/profiles/", key, body)
                assert response.status_code == 201, response.text

        def a_checkpoint() -> None:
            # About 1,500 pages of new rows in one request: more rows than the thread lets pile up, more
            # pages than SQLite's own checkpoint lets the WAL hold.
            size = database.stat().st_size
            profiles = [{"email": f"bulk{n}@example.com", "properties": {"note": "x" * 3000}} for n in range(1500)]
            response = httpx.post(f"{served.url}/__localviyo/seed", json=profiles, headers=ADMIN, timeout=60)
            assert response.status_code == 200, response.text
            _wait_for_growth(database, size)

        writes = _syncs_during(served, tmp_path / "writes.strace", single_writes)
        checkpoint = _syncs_during(served, tmp_path / "checkpoint.strace", a_checkpoint)
    if level == "full":
        assert writes["main"] >= WRITES, writes  # every commit waits for its WAL frames
    elif level == "normal":
        assert writes.total() == 0, writes  # commits alone never wait for the disk
        assert checkpoint.total() >= 2, checkpoint  # a checkpoint does: the WAL, then the database
    else:
        assert writes.total() == checkpoint.total() == 0, (writes, checkpoint)
    if checkpoints == "thread" and level != "off":
        # The copy and its syncs were the thread's; the event loop's thread waited for none of them.
        assert checkpoint["main"] == (1 if level == "full" else 0) and checkpoint["other"] >= 2, checkpoint
