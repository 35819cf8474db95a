"""Isolation between accounts, scope enforcement on every operation, and keys that never leak.

- Every operation of `OPERATIONS`, called with a key of another account on a profile that exists, answers
  exactly as it does for an id that exists nowhere (same status, same body but for the error's own uuid and
  the id echoed in the detail), shows none of the other account's data, and changes none of it.
- Scopes come from the operation table: for each operation and each scope it requires, a key holding every
  Klaviyo scope except that one (and except the write scope that implies it) gets 403; a key holding
  exactly the operation's scopes gets the operation's success status from Klaviyo's spec.
- Keys are stored only as SHA-256 hashes: the SQLite file, its WAL and shared memory hold no key.
- Server logs at debug level (access log included) and the request journal never hold a full key, even
  for requests that fail in every way we know (wrong scheme, bare key, revoked, control characters).
"""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import spec
from client import Api, Reply
from processes import serving

from localviyo import ManualClock, Settings, accounts, create_app
from localviyo.api.routes import OPERATIONS, Operation
from localviyo.app import LocalviyoApp
from localviyo.core.keys import FULL_ACCESS, hash_key
from localviyo.storage import Store, open_store
from localviyo.testing import ServerThread

REVISION = "2024-02-15"
UNKNOWN = "01GDDKASAP8TKDDA2GRZDSVP4H"  # the shape of a profile id; exists in no account
START = 1_795_000_000.0
# Every scope Klaviyo's 2024-02-15 spec names (read from the spec when it is there).
KLAVIYO_SCOPES = [
    f"{resource}:{access}"
    for resource, accesses in {
        "accounts": "r",
        "campaigns": "rw",
        "catalogs": "rw",
        "coupon-codes": "rw",
        "coupons": "rw",
        "data-privacy": "w",
        "events": "rw",
        "flows": "rw",
        "images": "rw",
        "lists": "rw",
        "metrics": "r",
        "profiles": "rw",
        "push-tokens": "w",
        "segments": "rw",
        "subscriptions": "w",
        "tags": "rw",
        "templates": "rw",
    }.items()
    for access in ("read", "write")
    if access[0] in accesses
]


def all_scopes() -> list[str]:
    if not spec.spec_available(REVISION):
        return KLAVIYO_SCOPES
    document = spec.load_spec(REVISION)
    found = {
        scope
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict)
        for scope in operation.get("x-klaviyo-scopes", ())
    }
    return sorted(found)


def success_statuses(operation: Operation) -> set[int]:
    if spec.spec_available(REVISION):
        return set(spec.operation(REVISION, operation.id).success_statuses)
    return {"create_profile": {201}, "merge_profiles": {201}, "create_or_update_profile": {200, 201}}.get(
        operation.id, {200}
    )


@dataclass
class World:
    url: str
    app: LocalviyoApp
    store: Store
    clock: ManualClock
    db_path: Path

    def key(self, account: str, scopes: tuple[str, ...] = (FULL_ACCESS,)) -> str:
        return accounts.create_key(self.store, self.clock, account=account, scopes=scopes)

    def api(self, key: str) -> Api:
        return Api(self.url, key)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    db_path = tmp_path_factory.mktemp("isolation") / "localviyo.db"
    store = open_store(f"sqlite:///{db_path}")
    clock = ManualClock(START)
    app = create_app(Settings(rate_limits="off"), store=store, clock=clock)
    with ServerThread(app) as server:
        yield World(server.url, app, store, clock, db_path)
    store.close()


# Isolation


@dataclass
class Accounts:
    victim: Api
    attacker: Api
    victim_ids: list[str]
    victim_emails: list[str]
    victim_phones: list[str]
    victim_external_ids: list[str]
    attacker_id: str
    secret: str  # a property value only the victim's profiles hold

    def victim_state(self) -> list[dict[str, Any]]:
        reply = self.victim.request("GET", "/api/profiles/", params={"page[size]": "100"})
        assert reply.status == 200, reply.text
        data: list[dict[str, Any]] = reply.json()["data"]
        return data

    def leaks(self, reply: Reply) -> list[str]:
        return [secret for secret in (*self.victim_ids, self.secret) if secret in reply.text]


@pytest.fixture
def pair(world: World) -> Iterator[Accounts]:
    name = f"victim-{len(world.store.list_accounts())}"
    victim = world.api(world.key(name))
    attacker = world.api(world.key(f"attacker-of-{name}"))
    ids, emails, phones, external_ids = [], [], [], []
    secret = f"{name}-secret-value"
    for index in range(3):
        emails.append(f"{name}-{index}@isolation.test")
        phones.append(f"+1415555{2670 + index:04d}")
        external_ids.append(f"{name}-ext-{index}")
        created = victim.create_profile(
            email=emails[-1], phone_number=phones[-1], external_id=external_ids[-1], properties={"secret": secret}
        )
        ids.append(created["id"])
    attacker_id = attacker.create_profile(email=f"own-{name}@isolation.test")["id"]
    yield Accounts(victim, attacker, ids, emails, phones, external_ids, attacker_id, secret)
    victim.close()
    attacker.close()


def normalized(reply: Reply, *ids: str) -> tuple[int, Any]:
    """Status and body with the parts that differ by nature removed: error uuids, echoed ids."""
    text = reply.text
    for profile_id in ids:
        text = text.replace(profile_id, "<ID>")
    document = json.loads(text) if text else None
    if isinstance(document, dict) and isinstance(document.get("errors"), list):
        for error in document["errors"]:
            error.pop("id", None)
    return reply.status, document


def same_as_unknown(victim_reply: Reply, unknown_reply: Reply, *ids: str) -> None:
    assert victim_reply.status == unknown_reply.status
    assert normalized(victim_reply, *ids) == normalized(unknown_reply, *ids)
    assert set(victim_reply.headers) - {"date"} == set(unknown_reply.headers) - {"date"}


def _update(api: Api, profile_id: str) -> Reply:
    return api.update_profile(profile_id, {"first_name": "Mallory", "properties": {"secret": "stolen"}})


def _import(api: Api, profile_id: str | None = None, **attributes: Any) -> Reply:
    data: dict[str, Any] = {"type": "profile", "attributes": attributes or {"first_name": "Mallory"}}
    if profile_id is not None:
        data["id"] = profile_id
    return api.request("POST", "/api/profile-import/", json_body={"data": data})


def _merge(api: Api, destination: str, source: str) -> Reply:
    body = {
        "data": {
            "type": "profile-merge",
            "id": destination,
            "relationships": {"profiles": {"data": [{"type": "profile", "id": source}]}},
        }
    }
    return api.request("POST", "/api/profile-merge/", json_body=body)


def probe_get_profiles(pair: Accounts) -> None:
    victim_id, victim_email = pair.victim_ids[0], pair.victim_emails[0]
    unknown_email = "x" * (len(victim_email) - len("@isolation.test")) + "@isolation.test"
    for victim_filter, unknown_filter, secrets in (
        (f'equals(id,"{victim_id}")', f'equals(id,"{UNKNOWN}")', (victim_id, UNKNOWN)),
        (f'equals(email,"{victim_email}")', f'equals(email,"{unknown_email}")', (victim_email, unknown_email)),
        (f'any(id,["{victim_id}"])', f'any(id,["{UNKNOWN}"])', (victim_id, UNKNOWN)),
    ):
        on_victim = pair.attacker.request("GET", "/api/profiles/", params={"filter": victim_filter})
        on_unknown = pair.attacker.request("GET", "/api/profiles/", params={"filter": unknown_filter})
        assert on_victim.status == 200 and on_victim.json()["data"] == []
        same_as_unknown(on_victim, on_unknown, *(quote(s) for s in secrets), *secrets)
    everything = pair.attacker.request("GET", "/api/profiles/", params={"page[size]": "100"})
    assert [p["id"] for p in everything.json()["data"]] == [pair.attacker_id]
    # A cursor taken from the victim's listing shows the attacker only its own profiles, if anything.
    first_page = pair.victim.request("GET", "/api/profiles/", params={"page[size]": "1"})
    next_link = httpx.URL(first_page.json()["links"]["next"])
    reply = pair.attacker.request("GET", next_link.path, params=dict(next_link.params))
    assert reply.status in (200, 400)
    assert not pair.leaks(reply), reply.text


def probe_create_profile(pair: Accounts) -> None:
    """The victim's identifiers are free in another account: 201, never a 409 naming the victim's profile."""
    for attributes in (
        {"email": pair.victim_emails[0].upper()},
        {"phone_number": pair.victim_phones[1]},
        {"external_id": pair.victim_external_ids[2]},
    ):
        reply = pair.attacker.post_profile(attributes)
        assert reply.status == 201, reply.text
        assert not pair.leaks(reply)


def probe_get_profile(pair: Accounts) -> None:
    for victim_id in pair.victim_ids:
        on_victim = pair.attacker.get_profile(victim_id)
        on_unknown = pair.attacker.get_profile(UNKNOWN)
        assert on_victim.status == 404
        same_as_unknown(on_victim, on_unknown, victim_id, UNKNOWN)
        with_options = {"additional-fields[profile]": "subscriptions", "include": "lists,segments"}
        on_victim = pair.attacker.request("GET", f"/api/profiles/{victim_id}/", params=with_options)
        on_unknown = pair.attacker.request("GET", f"/api/profiles/{UNKNOWN}/", params=with_options)
        same_as_unknown(on_victim, on_unknown, victim_id, UNKNOWN)


def probe_update_profile(pair: Accounts) -> None:
    victim_id = pair.victim_ids[0]
    on_victim = _update(pair.attacker, victim_id)
    on_unknown = _update(pair.attacker, UNKNOWN)
    assert on_victim.status == 404
    same_as_unknown(on_victim, on_unknown, victim_id, UNKNOWN)
    # An attacker's own profile cannot take a victim's identifier as a hint either: no 409.
    reply = pair.attacker.update_profile(pair.attacker_id, {"email": pair.victim_emails[1]})
    assert reply.status == 200, reply.text


def probe_create_or_update_profile(pair: Accounts) -> None:
    victim_id = pair.victim_ids[0]
    on_victim = _import(pair.attacker, victim_id)
    on_unknown = _import(pair.attacker, UNKNOWN)
    assert on_victim.status == 404
    same_as_unknown(on_victim, on_unknown, victim_id, UNKNOWN)
    # By identifier: the victim's email resolves to nothing in the attacker's account, so a new profile.
    reply = _import(pair.attacker, email=pair.victim_emails[2], first_name="Mallory")
    assert reply.status == 201, reply.text
    assert reply.json()["data"]["id"] not in pair.victim_ids
    assert not pair.leaks(reply)
    again = _import(pair.attacker, email=pair.victim_emails[2], phone_number=pair.victim_phones[2])
    assert again.status == 200 and again.json()["data"]["id"] == reply.json()["data"]["id"]


def probe_merge_profiles(pair: Accounts) -> None:
    victim_a, victim_b = pair.victim_ids[0], pair.victim_ids[1]
    own = pair.attacker_id
    for victim_pair, unknown_pair in (
        ((victim_a, own), (UNKNOWN, own)),
        ((own, victim_a), (own, UNKNOWN)),
        ((victim_a, victim_b), (UNKNOWN, victim_b)),
    ):
        on_victim = _merge(pair.attacker, *victim_pair)
        on_unknown = _merge(pair.attacker, *unknown_pair)
        assert on_victim.status == 404
        same_as_unknown(on_victim, on_unknown, victim_a, victim_b, UNKNOWN)
    assert pair.attacker.get_profile(own).status == 200


PROBES: dict[str, Callable[[Accounts], None]] = {
    "get_profiles": probe_get_profiles,
    "create_profile": probe_create_profile,
    "get_profile": probe_get_profile,
    "update_profile": probe_update_profile,
    "create_or_update_profile": probe_create_or_update_profile,
    "merge_profiles": probe_merge_profiles,
}


def test_every_operation_has_an_isolation_probe() -> None:
    assert set(PROBES) == {operation.id for operation in OPERATIONS}


@pytest.mark.parametrize("operation", OPERATIONS, ids=[operation.id for operation in OPERATIONS])
def test_another_accounts_key_sees_nothing_and_changes_nothing(pair: Accounts, operation: Operation) -> None:
    before = pair.victim_state()
    PROBES[operation.id](pair)
    assert pair.victim_state() == before


# Scopes


@dataclass
class Call:
    method: str
    path: str
    body: Any = None
    params: dict[str, str] | None = None


def valid_call(operation: Operation, admin: Api, serial: int) -> Call:
    """A request that succeeds for `operation` with a key that may run it."""
    profile_id = admin.create_profile(email=f"scope-{operation.id}-{serial}@scopes.test")["id"]
    path = operation.path.replace("{id}", profile_id) + "/"
    attributes = {"first_name": f"Scoped {serial}"}
    if operation.id == "get_profiles":
        return Call("GET", path, params={"filter": f'equals(id,"{profile_id}")'})
    if operation.id == "get_profile":
        return Call("GET", path)
    if operation.id == "create_profile":
        return Call("POST", path, {"data": {"type": "profile", "attributes": {"email": f"new-{serial}@scopes.test"}}})
    if operation.id == "update_profile":
        return Call("PATCH", path, {"data": {"type": "profile", "id": profile_id, "attributes": attributes}})
    if operation.id == "create_or_update_profile":
        return Call("POST", path, {"data": {"type": "profile", "id": profile_id, "attributes": attributes}})
    if operation.id == "merge_profiles":
        source = admin.create_profile(email=f"source-{serial}@scopes.test")["id"]
        relationships = {"profiles": {"data": [{"type": "profile", "id": source}]}}
        return Call("POST", path, {"data": {"type": "profile-merge", "id": profile_id, "relationships": relationships}})
    raise AssertionError(f"no valid call for {operation.id}: add one")


def withheld(required: str) -> set[str]:
    """A scope and the ones that imply it (write implies read)."""
    resource, _, access = required.partition(":")
    return {required, f"{resource}:write"} if access == "read" else {required}


SCOPE_CASES = [(operation, scope) for operation in OPERATIONS for scope in operation.scopes]


def test_every_operation_requires_a_scope() -> None:
    assert all(operation.scopes for operation in OPERATIONS)


@pytest.mark.parametrize(
    ("operation", "scope"), SCOPE_CASES, ids=[f"{operation.id}-without-{scope}" for operation, scope in SCOPE_CASES]
)
def test_a_key_missing_one_required_scope_gets_403(world: World, operation: Operation, scope: str) -> None:
    account = f"scopes-403-{operation.id}-{scope}"
    admin = world.api(world.key(account))
    call = valid_call(operation, admin, 1)
    scopes = tuple(s for s in all_scopes() if s not in withheld(scope))
    assert scopes, "the key must hold something"
    limited = world.api(world.key(account, scopes))
    reply = limited.request(call.method, call.path, json_body=call.body, params=call.params)
    assert reply.status == 403, reply.text
    assert reply.error["code"] == "permission_denied"
    # Even a malformed body gets 403 first (the order of checks), so nothing about the body leaks.
    if call.body is not None:
        garbage = limited.request(call.method, call.path, content=b"{not json")
        assert garbage.status == 403, garbage.text
    admin.close()
    limited.close()


@pytest.mark.parametrize("operation", OPERATIONS, ids=[operation.id for operation in OPERATIONS])
def test_a_key_with_exactly_the_required_scopes_passes(world: World, operation: Operation) -> None:
    account = f"scopes-exact-{operation.id}"
    admin = world.api(world.key(account))
    exact = world.api(world.key(account, operation.scopes))
    call = valid_call(operation, admin, 2)
    reply = exact.request(call.method, call.path, json_body=call.body, params=call.params)
    assert reply.status in success_statuses(operation), reply.text
    admin.close()
    exact.close()


# Keys at rest and in logs


def _key_forms(key: str) -> list[bytes]:
    secret = key.removeprefix("pk_")
    return [key.encode(), secret.encode(), key.encode("utf-16-le"), secret.upper().encode()]


def test_keys_are_stored_only_as_hashes(tmp_path: Path) -> None:
    db_path = tmp_path / "keys.db"
    store = open_store(f"sqlite:///{db_path}")
    clock = ManualClock(START)
    app = create_app(Settings(rate_limits="off"), store=store, clock=clock)
    keys = [accounts.create_key(store, clock, account=f"k{i % 2}", scopes=(FULL_ACCESS,)) for i in range(4)]
    keys.append(accounts.create_key(store, clock, account="k0", scopes=("profiles:read",)))
    revoked = accounts.create_key(store, clock, account="k1", scopes=(FULL_ACCESS,))
    assert accounts.revoke_key(store, clock, revoked)
    keys.append(revoked)
    with ServerThread(app) as server:
        for index, key in enumerate(keys):
            api = Api(server.url, key)
            api.post_profile({"email": f"hash{index}@keys.test"})
            api.get_profile(UNKNOWN)
            api.close()
    with sqlite3.connect(db_path) as db:
        stored = {row[0] for row in db.execute("SELECT hash FROM api_keys")}
    db.close()
    assert {hash_key(key) for key in keys} <= stored
    files = [path for path in tmp_path.iterdir() if path.name.startswith("keys.db")]
    contents = b"".join(path.read_bytes() for path in files)
    assert contents, files
    for key in keys:
        for form in _key_forms(key):
            assert form not in contents, f"a key is stored in clear in {[p.name for p in files]}"
    store.close()


def _raw(url: str, data: bytes) -> bytes:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    received = b""
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        while chunk := sock.recv(65536):
            received += chunk
    return received


def _hostile_auth_requests(key: str, profile_id: str) -> list[bytes]:
    """Requests whose Authorization carries `key` in ways a server might choke on, and log."""
    values = [
        f"Klaviyo-API-Key {key}".encode(),
        f"Bearer {key}".encode(),
        key.encode(),
        f"Klaviyo-API-Key {key}x".encode(),
        f"Klaviyo-API-Key  {key} ".encode(),
        b"Klaviyo-API-Key " + key.encode() + b"\x01",
        b"Klaviyo-API-Key \x00" + key.encode(),
        b"Klaviyo-API-Key " + key.encode() + b"\xe9",
    ]
    requests = []
    for value in values:
        for line in (
            f"GET /api/profiles/{profile_id}/ HTTP/1.1".encode(),
            b"GET /api/profiles/?filter=" + b"not(" * 60 + b"equals(email,'a@b.co')" + b")" * 60 + b" HTTP/1.1",
            b"PATCH /api/profiles/" + profile_id.encode() + b"/ HTTP/1.1",
        ):
            body = b"{not json" if line.startswith(b"PATCH") else b""
            head = [line, b"Host: 127.0.0.1", b"Connection: close", b"Authorization: " + value, b"revision: 2024-02-15"]
            if body:
                head += [b"Content-Type: application/json", b"Content-Length: " + str(len(body)).encode()]
            requests.append(b"\r\n".join(head) + b"\r\n\r\n" + body)
    return requests


def test_debug_logs_never_hold_a_full_key(tmp_path: Path) -> None:
    database = tmp_path / "logs.db"
    store = open_store(f"sqlite:///{database}")
    store.migrate()
    clock = ManualClock()
    full = accounts.create_key(store, clock, account="logs", scopes=(FULL_ACCESS,))
    reader = accounts.create_key(store, clock, account="logs", scopes=("profiles:read",))
    revoked = accounts.create_key(store, clock, account="logs", scopes=(FULL_ACCESS,))
    accounts.revoke_key(store, clock, revoked)
    store.close()
    keys = [full, reader, revoked]
    args = ("--database-url", f"sqlite:///{database}", "--log-level", "debug", "--rate-limits", "off")
    with serving(tmp_path / "serve", *args) as served:
        assert "new store" not in served.stdout, "no first-run key: the store has keys"
        api = Api(served.url, full)
        profile_id = api.create_profile(email="logs@keys.test")["id"]
        api.close()
        for key in keys:
            for request in _hostile_auth_requests(key, profile_id):
                _raw(served.url, request)
        served.process.terminate()
        served.process.wait(timeout=10)
        logs = served.stdout_path.read_bytes() + served.stderr_path.read_bytes()
    assert b"GET /api/profiles/" in logs, "the access log was not captured at debug level"
    for key in keys:
        for form in _key_forms(key):
            assert form not in logs, f"a key is in the server's log:\n{_around(logs, form)}"


def _around(logs: bytes, form: bytes) -> str:
    at = logs.find(form)
    return logs[max(0, at - 300) : at + 100].decode("utf-8", "replace")


def test_the_journal_never_holds_a_full_key(world: World) -> None:
    journal = getattr(world.app, "journal", None)
    if journal is None:
        pytest.skip("this build keeps no request journal")
    key = world.key("journal")
    api = world.api(key)
    profile_id = api.create_profile(email="journal@keys.test")["id"]
    api.close()
    for request in _hostile_auth_requests(key, profile_id):
        _raw(world.url, request)
    kept = json.dumps([entry.to_json() for entry in journal], default=str, ensure_ascii=False)
    assert profile_id in kept, "the journal recorded none of these requests"
    for form in _key_forms(key)[:2]:
        assert form.decode() not in kept, f"a key is in the journal: {_around(kept.encode(), form)}"
