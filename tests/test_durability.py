"""`--sqlite-synchronous`: how far an answer is on disk, seen as the fsyncs a running server makes.

Each level is checked on a real `localviyo serve` process with strace attached to it: full syncs the WAL
at every commit; normal only at checkpoints (the first after about a thousand pages of changes); off never.
"""

from __future__ import annotations

import select
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from processes import Served, cli, first_run_key, serving, url_of

from localviyo import Settings, create_app
from localviyo.storage.sqlite import SQLiteStore

WRITES = 12
ADMIN = {"Content-Type": "application/json"}


@pytest.mark.parametrize("level", ["full", "normal", "off"])
def test_the_setting_reaches_the_connection(tmp_path: Path, level: str) -> None:
    app = create_app(Settings(database_url=url_of(tmp_path / "s.db"), sqlite_synchronous=level))
    assert isinstance(app.store, SQLiteStore)
    assert app.store.synchronous == level


def test_normal_is_the_default(tmp_path: Path) -> None:
    store = create_app(Settings(database_url=url_of(tmp_path / "d.db"))).store
    assert isinstance(store, SQLiteStore)
    assert store.synchronous == "normal"


def test_an_unknown_level_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous='extra'"):
        SQLiteStore(str(tmp_path / "x.db"), synchronous="extra")
    result = cli("serve", "--database-url", url_of(tmp_path / "f.db"), "--sqlite-synchronous", "extra", timeout=15)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Usage:" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "f.db").exists()


class _Syncs:
    """strace attached to a running server, counting its fsync and fdatasync calls until stopped."""

    def __init__(self, pid: int, out: Path) -> None:
        self.out = out
        command = ["strace", "-f", "-e", "trace=fsync,fdatasync", "-o", str(out), "-p", str(pid)]
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        assert self.process.stderr is not None
        ready, _, _ = select.select([self.process.stderr], [], [], 10)
        first = self.process.stderr.readline() if ready else ""
        if "attached" not in first:  # "strace: Process N attached with M threads"
            self.process.kill()
            self.process.communicate()
            pytest.skip(f"strace could not attach to the server here: {first.strip() or 'no answer in 10 s'}")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        self.process.communicate(timeout=10)
        return sum(1 for line in self.out.read_text().splitlines() if "sync(" in line and "resumed" not in line)


def _syncs_during(served: Served, out: Path, work: Callable[[], None]) -> int:
    syncs = _Syncs(served.process.pid, out)
    try:
        work()
    finally:
        count = syncs.stop()
    return count


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed: it counts the server's fsyncs")
@pytest.mark.parametrize("level", ["full", "normal", "off"])
def test_each_level_syncs_what_it_promises(tmp_path: Path, level: str) -> None:
    database = tmp_path / "sync.db"
    with serving(
        tmp_path, "--database-url", url_of(database), "--rate-limits", "off", "--sqlite-synchronous", level
    ) as served:
        key = first_run_key(served.stdout)

        def single_writes() -> None:
            for number in range(WRITES):
                body = {"data": {"type": "profile", "attributes": {"email": f"p{number}@example.com"}}}
                response = served.request("POST", "/api/profiles/", key, body)
                assert response.status_code == 201, response.text

        def a_checkpoint() -> None:
            # About 1,500 pages of new rows in one request: the commit that ends it passes the WAL's
            # thousand-page mark, so SQLite checkpoints.
            profiles = [
                {"email": f"bulk{number}@example.com", "properties": {"note": "x" * 3000}} for number in range(1500)
            ]
            response = httpx.post(f"{served.url}/__localviyo/seed", json=profiles, headers=ADMIN, timeout=60)
            assert response.status_code == 200, response.text

        writes = _syncs_during(served, tmp_path / "writes.strace", single_writes)
        checkpoint = _syncs_during(served, tmp_path / "checkpoint.strace", a_checkpoint)
    if level == "full":
        assert writes >= WRITES, writes  # every commit waits for its WAL frames
    elif level == "normal":
        assert writes == 0, writes  # commits alone never wait for the disk
        assert checkpoint >= 1, checkpoint  # a checkpoint does
    else:
        assert writes == 0 and checkpoint == 0, (writes, checkpoint)
