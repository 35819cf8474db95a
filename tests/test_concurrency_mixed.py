"""Many clients updating, importing and merging overlapping profiles at once, against real `localviyo serve`
processes: one on a SQLite file, and two on one PostgreSQL schema. Every request is answered (no 5xx, no
timeout, no dropped connection), no acknowledged append is lost or doubled, no value appears that was not
acknowledged, no two profiles share an email, and every merged-away profile is gone.

Profile i starts with email e_i and properties {"log_i": []}. Appends to log_i come from PATCH (by id,
value "u<seq>") and from profile-import (by email e_i, value "m<seq>"). Merges move log_i into the
destination (distinct keys, so nothing may be lost); a later import of e_i creates a new profile (201),
since the destination keeps its own email. The schedule comes from a seeded RNG; only the interleaving
differs from run to run, and every check below holds for any interleaving.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from backends import postgres_schema
from processes import first_run_key, serving, url_of

REVISION = "2024-02-15"
PROFILES = 30
HOT = 12  # merges and most traffic fall on these, so they overlap
MERGES = 8
OPERATIONS = 320
WORKERS = 20
SEED = 20261116
TIMEOUT = 15.0

Kind = Literal["patch", "import", "merge"]


@dataclass
class Deployment:
    name: str
    urls: list[str]
    key: str

    def url(self, index: int) -> str:
        return self.urls[index % len(self.urls)]

    def client(self) -> httpx.Client:
        headers = {
            "Authorization": f"Klaviyo-API-Key {self.key}",
            "revision": REVISION,
            "Content-Type": "application/json",
        }
        limits = httpx.Limits(max_connections=2 * WORKERS, max_keepalive_connections=2 * WORKERS)
        return httpx.Client(headers=headers, timeout=TIMEOUT, limits=limits)


@pytest.fixture(params=["sqlite-one-process", "postgres-two-processes"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    env = {"LOCALVIYO_RATE_LIMITS": "off"}
    with ExitStack() as stack:
        if request.param == "sqlite-one-process":
            database_url, count = url_of(tmp_path / "localviyo.db"), 1
        else:
            database_url, count = stack.enter_context(postgres_schema()), 2
        first = stack.enter_context(serving(tmp_path / "a", "--database-url", database_url, env=env))
        key = first_run_key(first.stdout)
        urls = [first.url]
        if count == 2:
            second = stack.enter_context(serving(tmp_path / "b", "--database-url", database_url, env=env))
            assert second.stdout == ""  # the store already has a key
            urls.append(second.url)
        yield Deployment(request.param, urls, key)


def email(index: int) -> str:
    return f"mixed-{index}@example.com"


@dataclass
class Operation:
    seq: int
    kind: Kind
    profile: int  # patch/import: the profile whose log is appended to; merge: the source
    destination: int = -1  # merge only
    # filled in when sent
    status: int = 0
    error: str = ""
    started: float = 0.0
    ended: float = 0.0
    body: Any = None

    @property
    def value(self) -> str:
        return f"{'u' if self.kind == 'patch' else 'm'}{self.seq}"

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def describe(self) -> str:
        target = f"{self.profile}->{self.destination}" if self.kind == "merge" else f"{self.profile} {self.value}"
        outcome = self.error or f"{self.status} {json.dumps(self.body)[:300]}"
        return f"#{self.seq} {self.kind} {target}: {outcome}"


def schedule() -> list[Operation]:
    """OPERATIONS operations from a seeded RNG: MERGES merges among the hot profiles (each profile the
    source of at most one), the rest PATCH and import appends, mostly on the hot profiles."""
    rng = random.Random(SEED)
    sources = rng.sample(range(HOT), MERGES)
    merges = [(source, rng.choice([p for p in range(HOT) if p != source])) for source in sources]
    slots = sorted(rng.sample(range(OPERATIONS // 10, OPERATIONS - OPERATIONS // 10), MERGES))
    plan: list[Operation] = []
    for seq in range(OPERATIONS):
        if slots and slots[0] == seq:
            slots.pop(0)
            source, destination = merges.pop(0)
            plan.append(Operation(seq, "merge", source, destination))
            continue
        profile = rng.randrange(HOT) if rng.random() < 0.7 else rng.randrange(PROFILES)
        plan.append(Operation(seq, "patch" if rng.random() < 0.5 else "import", profile))
    return plan


def test_overlapping_updates_imports_and_merges_lose_nothing(deployment: Deployment) -> None:
    began = time.monotonic()
    with deployment.client() as http:
        ids: list[str] = []
        for index in range(PROFILES):
            attributes = {"email": email(index), "properties": {f"log_{index}": []}}
            reply = http.post(
                f"{deployment.url(index)}/api/profiles/", json={"data": {"type": "profile", "attributes": attributes}}
            )
            assert reply.status_code == 201, reply.text
            ids.append(reply.json()["data"]["id"])

        plan = schedule()
        start = threading.Barrier(WORKERS, timeout=30)
        local = threading.local()

        def send(operation: Operation) -> None:
            if not getattr(local, "started", False):  # the first request of every worker leaves at once
                local.started = True
                start.wait()
            url = deployment.url(operation.seq)
            append = {"patch_properties": {"append": {f"log_{operation.profile}": operation.value}}}
            operation.started = time.monotonic()
            try:
                if operation.kind == "patch":
                    profile_id = ids[operation.profile]
                    body = {"data": {"type": "profile", "id": profile_id, "attributes": {}, "meta": append}}
                    reply = http.patch(f"{url}/api/profiles/{profile_id}/", json=body)
                elif operation.kind == "import":
                    attributes = {"email": email(operation.profile)}
                    body = {"data": {"type": "profile", "attributes": attributes, "meta": append}}
                    reply = http.post(f"{url}/api/profile-import/", json=body)
                else:
                    sources = [{"type": "profile", "id": ids[operation.profile]}]
                    body = {
                        "data": {
                            "type": "profile-merge",
                            "id": ids[operation.destination],
                            "relationships": {"profiles": {"data": sources}},
                        }
                    }
                    reply = http.post(f"{url}/api/profile-merge/", json=body)
                operation.status = reply.status_code
                try:
                    operation.body = reply.json()
                except ValueError:
                    operation.body = reply.text
            except httpx.HTTPError as error:
                operation.error = f"{type(error).__name__}: {error}"
            finally:
                operation.ended = time.monotonic()

        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(send, plan))
        sent = time.monotonic()

        bad = judge(plan, ids)

        export = http.get(f"{deployment.urls[0]}/__localviyo/export")
        assert export.status_code == 200, export.text
        profiles = [json.loads(line) for line in export.text.splitlines() if line.strip()]
        bad += check_store(plan, ids, profiles)
        for operation in plan:
            if operation.kind == "merge" and operation.ok:
                for url in deployment.urls:
                    gone = http.get(f"{url}/api/profiles/{ids[operation.profile]}/")
                    if gone.status_code != 404:
                        bad.append(f"merge source {operation.profile} still answers {gone.status_code}: {gone.text}")

    kinds = Counter((operation.kind, operation.status or operation.error.split(":")[0]) for operation in plan)
    by_kind = "; ".join(
        f"{kind} "
        + ", ".join(f"{status}x{count}" for (k, status), count in sorted(kinds.items(), key=str) if k == kind)
        for kind in ("patch", "import", "merge")
    )

    def tally(marker: str) -> int:
        return sum(1 for problem in bad if marker in problem)

    merged = sum(1 for operation in plan if operation.kind == "merge" and operation.ok)
    values = sum(1 for operation in plan if operation.kind != "merge" and operation.ok)
    print(
        f"\nmixed concurrency [{deployment.name}, {len(deployment.urls)} process(es), {WORKERS} threads]: "
        f"{len(plan)} requests ({by_kind}); {merged}/{MERGES} merges done; {values} appended values checked "
        f"across {len(profiles)} profiles: {tally('lost:')} lost, {tally('stored ')} misplaced or doubled, "
        f"{tally('never acknowledged')} unacknowledged; "
        f"{'OK' if not bad else f'{len(bad)} PROBLEMS'}; {sent - began:.1f}s of requests"
    )
    assert not bad, "\n".join(bad[:40])


def judge(plan: list[Operation], ids: list[str]) -> list[str]:
    """Every answer is one the interleaving allows; a 404 or a 201 only after the merge that explains it."""
    bad: list[str] = []
    merged_at = {op.profile: op for op in plan if op.kind == "merge" and op.ok}  # source -> its merge
    sources = {op.profile for op in plan if op.kind == "merge"}

    def merged_before(profile: int, operation: Operation) -> bool:
        merge = merged_at.get(profile)
        return merge is not None and merge.started < operation.ended

    created = Counter[int]()
    for op in plan:
        if op.error:
            bad.append(f"unanswered: {op.describe()}")
            continue
        if op.kind == "patch":
            if op.ok:
                merge = merged_at.get(op.profile)
                if op.status != 200 or (merge is not None and op.started > merge.ended):
                    bad.append(f"patch of a merged-away profile succeeded: {op.describe()}")
                elif op.value not in op.body["data"]["attributes"]["properties"].get(f"log_{op.profile}", []):
                    bad.append(f"patch answer lacks its value: {op.describe()}")
            elif not (op.status == 404 and merged_before(op.profile, op)):
                bad.append(f"unexpected answer: {op.describe()}")
        elif op.kind == "import":
            if op.status == 201:
                created[op.profile] += 1
                if not merged_before(op.profile, op):
                    bad.append(f"import created a profile whose email was held: {op.describe()}")
            if op.ok:
                attributes = op.body["data"]["attributes"]
                if attributes["email"] != email(op.profile):
                    bad.append(f"import answered another profile: {op.describe()}")
                elif op.value not in attributes["properties"].get(f"log_{op.profile}", []):
                    bad.append(f"import answer lacks its value: {op.describe()}")
            else:
                bad.append(f"unexpected answer: {op.describe()}")
        elif op.ok:
            if op.body["data"]["id"] != ids[op.destination]:
                bad.append(f"merge answered another profile: {op.describe()}")
        elif not (op.status == 404 and op.destination in sources and merged_before(op.destination, op)):
            # a source is deleted only by its own merge, so only a merged-away destination explains a 404
            bad.append(f"unexpected answer: {op.describe()}")
    bad += [f"{count} imports of {email(profile)} created a profile" for profile, count in created.items() if count > 1]
    return bad


def check_store(plan: list[Operation], ids: list[str], profiles: list[dict[str, Any]]) -> list[str]:
    """Each acknowledged value exactly once, under its own key, in the profile it must have ended up in."""
    bad: list[str] = []
    into = {op.profile: op.destination for op in plan if op.kind == "merge" and op.ok}

    def final(profile: int) -> str:
        seen = {profile}
        while profile in into:
            profile = into[profile]
            assert profile not in seen, f"merge cycle through {profile}"
            seen.add(profile)
        return ids[profile]

    emails = Counter(str(p["attributes"].get("email", "")).lower() for p in profiles)
    bad += [f"{count} profiles share the email {address!r}" for address, count in emails.items() if count > 1]
    by_email = {str(p["attributes"].get("email", "")).lower(): p["id"] for p in profiles}
    created = {op.profile for op in plan if op.kind == "import" and op.status == 201}
    expected_count = PROFILES - len(into) + len(created)
    if len(profiles) != expected_count:
        bad.append(f"{len(profiles)} profiles stored, {expected_count} expected")

    found: dict[str, list[tuple[str, str]]] = {}  # value -> [(profile id, key)]
    for profile in profiles:
        for key, log in profile["attributes"].get("properties", {}).items():
            if not isinstance(log, list):
                bad.append(f"{profile['id']} {key} is not a list: {log!r}")
                continue
            for value in log:
                found.setdefault(str(value), []).append((profile["id"], key))
    acknowledged = {op.value: op for op in plan if op.kind != "merge" and op.ok}
    for value, op in acknowledged.items():
        places = found.get(value, [])
        allowed = {final(op.profile)}
        if op.kind == "import" and op.profile in created:
            allowed.add(by_email.get(email(op.profile), "?"))
        if not places:
            bad.append(f"lost: {op.describe()}")
        elif len(places) > 1:
            bad.append(f"stored {len(places)} times {places}: {op.describe()}")
        elif places[0][1] != f"log_{op.profile}" or places[0][0] not in allowed:
            bad.append(f"stored in {places[0]}, expected log_{op.profile} in one of {sorted(allowed)}: {op.describe()}")
    bad += [
        f"stored but never acknowledged: {value} at {places}"
        for value, places in found.items()
        if value not in acknowledged
    ]
    return bad
