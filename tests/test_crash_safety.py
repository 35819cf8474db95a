"""Crash safety: a write load against a real `localviyo serve`, SIGKILLed at random moments, restarted on
the same store; every write acknowledged with a 2xx survives and no profile is half-written.

Four client threads send, until the server dies under them:
- creates of new profiles `c{n}@crash.test` whose first_name, last_name and `properties.n` all carry n;
- updates of three shared profiles that append `a{n}` to `properties.seen` and set first_name `A{n}` and
  `properties.last` n in the same request;
- imports (profile-import) of three emails, each appending `i{n}` to `properties.imports` and setting
  first_name `I{n}` and `properties.last` n.
n is unique over the whole run. After every kill the server is started again on the same database; at the
end the store is read through the API and straight from the database, and:
- every acknowledged create is there, once, whole; a create that was never acknowledged is there whole or
  not at all;
- in every list, each value appears at most once, every acknowledged append/import is present and nothing
  that was never sent is;
- the fields one request set together agree (first_name `A{n}` goes with `properties.last` n, and n is in
  the list), so no profile holds half of one write;
- no email is held by two profiles, and the indexed identifier columns agree with the stored body.

The kill moments come from a seeded RNG (SEED); the figures are printed as one `crash safety[...]` line.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from backends import postgres_schema
from processes import first_run_key, serving

SEED = 20261129
KILLS = 6
CLIENTS = 4
TARGETS = 3  # shared profiles for appends, and emails for imports
REVISION = "2024-02-15"


@dataclass
class Ledger:
    """What was sent and what was acknowledged, by kind and n."""

    sent: dict[str, set[int]] = field(default_factory=lambda: {"create": set(), "append": set(), "import": set()})
    acked: dict[str, set[int]] = field(default_factory=lambda: {"create": set(), "append": set(), "import": set()})
    refused: Counter[int] = field(default_factory=Counter)  # 4xx/5xx answers by status
    failed: int = 0  # no answer (the server died mid-request)
    lock: threading.Lock = field(default_factory=threading.Lock)
    serial: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def next(self) -> int:
        with self.lock:
            return next(self.serial)

    def record(self, kind: str, n: int, status: int | None) -> None:
        with self.lock:
            self.sent[kind].add(n)
            if status is None:
                self.failed += 1
            elif 200 <= status < 300:
                self.acked[kind].add(n)
            else:
                self.refused[status] += 1

    @property
    def requests(self) -> int:
        return sum(len(ns) for ns in self.sent.values())

    @property
    def acknowledged(self) -> int:
        return sum(len(ns) for ns in self.acked.values())


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Klaviyo-API-Key {key}", "revision": REVISION, "Content-Type": "application/json"}


def _one_request(http: httpx.Client, url: str, kind: str, n: int, rng: random.Random, targets: list[str]) -> int:
    if kind == "create":
        attributes = {
            "email": f"c{n}@crash.test",
            "first_name": f"F{n}",
            "last_name": f"L{n}",
            "properties": {"n": n, "pad": "x" * rng.randrange(0, 2000)},
        }
        reply = http.post(f"{url}/api/profiles/", json={"data": {"type": "profile", "attributes": attributes}})
    elif kind == "append":
        profile_id = rng.choice(targets)
        document = {
            "data": {
                "type": "profile",
                "id": profile_id,
                "attributes": {"first_name": f"A{n}", "properties": {"last": n}},
                "meta": {"patch_properties": {"append": {"seen": f"a{n}"}}},
            }
        }
        reply = http.patch(f"{url}/api/profiles/{profile_id}/", json=document)
    else:
        document = {
            "data": {
                "type": "profile",
                "attributes": {
                    "email": f"imp{rng.randrange(TARGETS)}@crash.test",
                    "first_name": f"I{n}",
                    "properties": {"last": n},
                },
                "meta": {"patch_properties": {"append": {"imports": f"i{n}"}}},
            }
        }
        reply = http.post(f"{url}/api/profile-import/", json=document)
    return reply.status_code


def _client(url: str, key: str, ledger: Ledger, targets: list[str], seed: int, stop: threading.Event) -> None:
    rng = random.Random(seed)
    with httpx.Client(headers=headers(key), timeout=10) as http:
        while not stop.is_set():
            kind = rng.choice(("create", "append", "append", "import"))
            n = ledger.next()
            status: int | None
            try:
                status = _one_request(http, url, kind, n, rng, targets)
            except httpx.HTTPError:
                status = None
                time.sleep(0.01)  # the server is gone; the round is about to end
            ledger.record(kind, n, status)


@dataclass
class Run:
    database_url: str
    directory: Path
    key: str = ""
    targets: list[str] = field(default_factory=list)
    ledger: Ledger = field(default_factory=Ledger)
    kills: int = 0


def _serve(run: Run, round_number: int) -> Any:
    return serving(run.directory / f"round-{round_number}", "--database-url", run.database_url, "--rate-limits", "off")


def _load_and_kill(run: Run, rng: random.Random) -> None:
    for round_number in range(1, KILLS + 1):
        with _serve(run, round_number) as served:
            if round_number == 1:
                run.key = first_run_key(served.stdout)
                with httpx.Client(headers=headers(run.key), timeout=10) as http:
                    for index in range(TARGETS):
                        body = {"data": {"type": "profile", "attributes": {"email": f"t{index}@crash.test"}}}
                        reply = http.post(f"{served.url}/api/profiles/", json=body)
                        assert reply.status_code == 201, reply.text
                        run.targets.append(reply.json()["data"]["id"])
            stop = threading.Event()
            threads = [
                threading.Thread(
                    target=_client,
                    args=(served.url, run.key, run.ledger, run.targets, rng.randrange(2**32), stop),
                    daemon=True,
                )
                for _ in range(CLIENTS)
            ]
            before = run.ledger.requests
            for thread in threads:
                thread.start()
            time.sleep(rng.uniform(0.3, 1.0))
            os.kill(served.process.pid, signal.SIGKILL)
            served.process.wait(timeout=10)
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
                assert not thread.is_alive(), "a client thread hung after the kill"
            assert run.ledger.requests > before, "the load sent nothing before the kill"
            run.kills += 1


def _all_profiles(url: str, key: str) -> list[dict[str, Any]]:
    profiles: list[dict[str, Any]] = []
    with httpx.Client(headers=headers(key), timeout=30) as http:
        link: str | None = f"{url}/api/profiles/?page%5Bsize%5D=100"
        for _ in range(1000):
            if link is None:
                break
            reply = http.get(link)
            assert reply.status_code == 200, reply.text
            document = reply.json()
            profiles.extend(document["data"])
            link = document["links"].get("next")
    return profiles


def _stored_rows(database_url: str) -> list[tuple[str, str | None, str | None, Any]]:
    """(id, email_key, phone_number_key, body) of every profile, straight from the database."""
    sql = "SELECT id, email_key, phone_number_key, {body} FROM profiles"
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            rows = db.execute(sql.format(body="body")).fetchall()
        db.close()
        return [tuple(row) for row in rows]
    import psycopg

    with psycopg.connect(database_url) as pg:
        return [tuple(row) for row in pg.execute(sql.format(body="body::text")).fetchall()]


def _list(properties: dict[str, Any], name: str) -> list[Any]:
    value = properties.get(name, [])
    return value if isinstance(value, list) else [value]


def _verify(run: Run) -> dict[str, int]:
    ledger = run.ledger
    problems: list[str] = []
    lost = duplicated = torn = phantom = unacknowledged_applied = 0
    with _serve(run, KILLS + 1) as served:
        assert served.stdout == "", "a restart on an existing store makes no new key"
        profiles = _all_profiles(served.url, run.key)

    by_email: dict[str, list[dict[str, Any]]] = {}
    for profile in profiles:
        by_email.setdefault(str(profile["attributes"]["email"]).lower(), []).append(profile)
    for email, holders in by_email.items():
        if len(holders) > 1:
            duplicated += 1
            problems.append(f"{email} is held by {len(holders)} profiles")

    # Creates
    for n in ledger.acked["create"]:
        if f"c{n}@crash.test" not in by_email:
            lost += 1
            problems.append(f"acknowledged create c{n} is missing")
    for email, holders in by_email.items():
        if not email.startswith("c"):
            continue
        n = int(email[1:].split("@")[0])
        attributes = holders[0]["attributes"]
        unacknowledged_applied += n not in ledger.acked["create"]
        if n not in ledger.sent["create"]:
            phantom += 1
            problems.append(f"{email} was never sent")
        whole = (attributes["first_name"], attributes["last_name"], attributes["properties"].get("n"))
        if whole != (f"F{n}", f"L{n}", n):
            torn += 1
            problems.append(f"{email} is half-written: {whole}")

    # Appends and imports
    checks = [("append", "seen", "a", "A", [f"t{i}@crash.test" for i in range(TARGETS)])]
    checks.append(("import", "imports", "i", "I", [f"imp{i}@crash.test" for i in range(TARGETS)]))
    for kind, list_name, value_prefix, name_prefix, emails in checks:
        present: Counter[int] = Counter()
        for email in emails:
            for profile in by_email.get(email, []):
                attributes = profile["attributes"]
                values = [int(str(v)[1:]) for v in _list(attributes["properties"], list_name)]
                present.update(values)
                last = attributes["properties"].get("last")
                first_name = attributes["first_name"]
                if last is not None and (first_name != f"{name_prefix}{last}" or last not in values):
                    torn += 1
                    problems.append(f"{email}: first_name {first_name}, last {last}: not from one write")
                if not all(str(v).startswith(value_prefix) for v in _list(attributes["properties"], list_name)):
                    problems.append(f"{email}: foreign values in {list_name}")
        for n, times in present.items():
            if times > 1:
                duplicated += 1
                problems.append(f"{kind} {n} applied {times} times")
            if n not in ledger.sent[kind]:
                phantom += 1
                problems.append(f"{kind} {n} was never sent")
        unacknowledged_applied += len(set(present) - ledger.acked[kind])
        for n in ledger.acked[kind] - set(present):
            lost += 1
            problems.append(f"acknowledged {kind} {n} is missing")

    # Straight from the database: bodies decode, indexed columns agree with them
    rows = _stored_rows(run.database_url)
    assert len(rows) == len(profiles), (len(rows), len(profiles))
    for profile_id, email_key, phone_key, raw in rows:
        body = json.loads(raw)
        email = body.get("email")
        if (
            body["id"] != profile_id
            or email_key != (email.lower() if email else None)
            or phone_key != body.get("phone_number")
        ):
            torn += 1
            problems.append(f"row {profile_id}: columns disagree with the body")

    assert not problems, "\n".join(problems[:40])
    return {
        "lost": lost,
        "duplicated": duplicated,
        "torn": torn,
        "phantom": phantom,
        "unacknowledged_applied": unacknowledged_applied,
        "profiles": len(profiles),
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'localviyo.db'}"
    else:
        with postgres_schema() as url:
            yield url


def test_acknowledged_writes_survive_sigkill(database_url: str, tmp_path: Path) -> None:
    backend = database_url.split(":", 1)[0]
    run = Run(database_url, tmp_path / "serve")
    _load_and_kill(run, random.Random(f"{SEED}-{backend}"))
    figures = _verify(run)
    ledger = run.ledger
    print(
        f"\ncrash safety[{backend}]: {ledger.requests} write requests sent, {ledger.acknowledged} acknowledged "
        f"(creates {len(ledger.acked['create'])}, appends {len(ledger.acked['append'])}, "
        f"imports {len(ledger.acked['import'])}), {ledger.failed} cut off by a kill "
        f"({figures['unacknowledged_applied']} of them applied whole), "
        f"{sum(ledger.refused.values())} refused {dict(ledger.refused)}; {run.kills} SIGKILLs survived; "
        f"{figures['profiles']} profiles checked; lost {figures['lost']}, duplicated {figures['duplicated']}, "
        f"half-written {figures['torn']}, never sent {figures['phantom']}"
    )
    assert run.kills >= 5
    assert ledger.failed > 0, "no request was in flight at any kill: the test proved nothing"
    assert ledger.acknowledged > 100
