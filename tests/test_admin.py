"""The admin API over HTTP: /__localviyo/health, reset, seed, export, requests, faults, clock, keys."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import first_run_key, serving

from localviyo import Settings, accounts, create_app
from localviyo.app import LocalviyoApp
from localviyo.clock import AdjustableClock
from localviyo.storage import open_store
from localviyo.testing import ServerThread

MISSING = "01GDDKASAP8TKDDA2GRZDSVP4H"


class Server:
    def __init__(self, url: str, app: LocalviyoApp, key: str) -> None:
        self.url, self.app, self.key = url, app, key
        self.http = httpx.Client(base_url=url, timeout=30)

    def admin(self, verb: str, call: str, body: Any = None, **params: str) -> httpx.Response:
        content = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
        return self.http.request(verb, f"/__localviyo/{call}", content=content, params=params)

    def api(self, method: str, path: str, body: Any = None, key: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Klaviyo-API-Key {key or self.key}", "revision": "2024-02-15"}
        return self.http.request(method, path, json=body, headers=headers)


def _server(tmp_path: Path, **settings: Any) -> Iterator[Server]:
    store = open_store(f"sqlite:///{tmp_path / 'admin.db'}")
    app = create_app(Settings(**settings), store=store, clock=AdjustableClock())
    key = accounts.create_key(store, app.clock, scopes=("*",))
    with ServerThread(app) as thread:
        server = Server(thread.url, app, key)
        yield server
        server.http.close()
    store.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    yield from _server(tmp_path)


def create(server: Server, email: str) -> str:
    reply = server.api("POST", "/api/profiles/", {"data": {"type": "profile", "attributes": {"email": email}}})
    assert reply.status_code == 201, reply.text
    profile_id: str = reply.json()["data"]["id"]
    return profile_id


def test_admin_health(server: Server) -> None:
    reply = server.admin("GET", "health")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["status"] == "ok"
    assert reply.json()["frozen"] is False


def test_admin_reset_everything(server: Server) -> None:
    profile_id = create(server, "gone@example.com")
    server.app.faults.add({"status": 500})
    assert server.admin("POST", "reset").json() == {"reset": "everything"}
    assert server.api("GET", f"/api/profiles/{profile_id}/").status_code == 404  # no fault: it was reset too
    assert [entry.status for entry in server.app.journal] == [404]
    assert server.api("GET", f"/api/profiles/{MISSING}/").headers["RateLimit-Remaining"] == "698"


def test_the_journal_keeps_every_api_request_however_it_ends_and_no_admin_call(server: Server) -> None:
    assert server.api("GET", "/api/nowhere/").status_code == 404  # no route
    assert server.api("DELETE", f"/api/profiles/{MISSING}/").status_code == 405
    assert server.http.request("OPTIONS", "/api/profiles/").status_code == 204
    assert server.api("GET", f"/api/profiles/{MISSING}/").status_code == 404  # the operation's own 404
    assert server.admin("GET", "health").status_code == 200
    assert server.api("GET", "/__localviyox/health").status_code == 404  # not the admin API, only named like it
    entries = [(entry.method, entry.path, entry.status, entry.operation) for entry in server.app.journal]
    assert entries == [
        ("GET", "/api/nowhere/", 404, None),
        ("DELETE", f"/api/profiles/{MISSING}/", 405, None),
        ("OPTIONS", "/api/profiles/", 204, None),
        ("GET", f"/api/profiles/{MISSING}/", 404, "get_profile"),
        ("GET", "/__localviyox/health", 404, None),
    ]


def test_admin_reset_one_account(server: Server) -> None:
    mine = create(server, "mine@example.com")
    other_key = accounts.create_key(server.app.store, server.app.clock, account="other", scopes=("*",))
    theirs = server.api(
        "POST", "/api/profiles/", {"data": {"type": "profile", "attributes": {"email": "t@x.com"}}}, key=other_key
    )
    assert server.admin("POST", "reset", {"account": "other"}).json() == {"reset": "other"}
    assert server.api("GET", f"/api/profiles/{mine}/").status_code == 200
    assert server.api("GET", f"/api/profiles/{theirs.json()['data']['id']}/", key=other_key).status_code == 404
    unknown = server.admin("POST", "reset", {"account": "nobody"})
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["detail"] == "No account named 'nobody'."


@pytest.mark.parametrize(
    "payload",
    [
        b'[{"email": "a@example.com"}, {"email": "b@example.com", "first_name": "B"}]',
        b'{"email": "a@example.com"}\n{"attributes": {"email": "b@example.com", "first_name": "B"}}\n',
    ],
    ids=["array", "json-lines"],
)
def test_admin_seed(server: Server, payload: bytes) -> None:
    reply = server.admin("POST", "seed", payload)
    assert reply.status_code == 200, reply.text
    assert reply.json()["seeded"] == 2
    first, second = reply.json()["ids"]
    assert server.api("GET", f"/api/profiles/{second}/").json()["data"]["attributes"]["first_name"] == "B"
    again = server.admin("POST", "seed", payload)  # an upsert: seeding twice changes nothing
    assert again.json()["ids"] == [first, second]


def test_admin_seed_with_ids_and_times(server: Server) -> None:
    item = {"id": "01SEEDED000000000000000001", "created": "2023-01-02T03:04:05Z", "attributes": {"email": "s@x.com"}}
    assert server.admin("POST", "seed", [item]).status_code == 200
    attributes = server.api("GET", f"/api/profiles/{item['id']}/").json()["data"]["attributes"]
    assert attributes["created"] == attributes["updated"] == "2023-01-02T03:04:05+00:00"


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        (b"not json at all", "Invalid seed: not JSON"),
        (b"[1]", "Invalid seed item 0: expected a JSON object"),
        (b'[{"created": "yesterday", "email": "x@x.com"}]', "Invalid seed item 0: created is not an ISO 8601 time"),
        (b'[{"email": "not-an-email"}]', "Invalid email address"),
    ],
)
def test_admin_seed_rejects_bad_items(server: Server, payload: bytes, detail: str) -> None:
    reply = server.admin("POST", "seed", payload)
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["detail"].startswith(detail)


def test_admin_export_round_trips_through_seed(server: Server, tmp_path: Path) -> None:
    server.admin(
        "POST", "seed", [{"email": "x@example.com", "anonymous_id": "anon", "_kx": "kx", "properties": {"a": [1]}}]
    )
    exported = server.admin("GET", "export")
    assert exported.headers["content-type"] == "application/x-ndjson"
    [line] = [json.loads(text) for text in exported.text.splitlines()]
    assert line["attributes"] == {
        "email": "x@example.com",
        "anonymous_id": "anon",
        "_kx": "kx",
        "properties": {"a": [1]},
    }
    assert line["account"] == "default"
    with ServerThread(create_app(Settings(database_url=f"sqlite:///{tmp_path / 'copy.db'}"))) as copy:
        assert httpx.post(f"{copy.url}/__localviyo/seed", content=exported.content).json()["ids"] == [line["id"]]
        assert httpx.get(f"{copy.url}/__localviyo/export").text == exported.text


def test_admin_requests(server: Server) -> None:
    profile_id = create(server, "j@example.com")
    server.api(
        "PATCH", f"/api/profiles/{profile_id}/", {"data": {"type": "profile", "id": profile_id, "attributes": {}}}
    )
    entries = server.admin("GET", "requests", method="PATCH").json()["data"]
    assert len(entries) == 1
    assert entries[0]["path"] == f"/api/profiles/{profile_id}/"
    assert entries[0]["operation"] == "update_profile"
    assert server.key not in json.dumps(server.admin("GET", "requests").json())
    assert len(server.admin("GET", "requests", limit="1").json()["data"]) == 1
    assert server.admin("DELETE", "requests").status_code == 204
    assert server.admin("GET", "requests").json()["data"] == []


def test_admin_faults(server: Server) -> None:
    added = server.admin("POST", "faults", {"status": 500, "times": 1, "operation": "get_profile"})
    assert added.status_code == 201
    assert added.json()["data"]["status"] == 500
    assert server.admin("GET", "faults").json()["data"][0]["times"] == 1
    failed = server.api("GET", f"/api/profiles/{MISSING}/")
    assert failed.status_code == 500
    assert failed.json()["errors"][0]["code"] == "error"
    assert server.api("GET", f"/api/profiles/{MISSING}/").status_code == 404
    assert server.admin("GET", "faults").json()["data"] == []


def test_admin_fault_latency(server: Server) -> None:
    server.admin("POST", "faults", {"latency": 0.3, "path": f"/api/profiles/{MISSING}"})
    started = time.monotonic()
    assert server.api("GET", f"/api/profiles/{MISSING}/").status_code == 404
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(
    "rule",
    [{"status": 418}, {}, {"status": 500, "times": 0}, {"latency": -1}, {"status": 500, "colour": "red"}, [1]],
)
def test_admin_faults_reject_bad_rules(server: Server, rule: Any) -> None:
    reply = server.admin("POST", "faults", rule)
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["detail"].startswith("Invalid fault: ")


def test_admin_clock(server: Server) -> None:
    frozen = server.admin("POST", "clock", {"freeze": True, "set": "2025-06-01T00:00:00Z"}).json()["data"]
    assert frozen == {"now": "2025-06-01T00:00:00+00:00", "timestamp": frozen["timestamp"], "frozen": True}
    created = server.api("POST", "/api/profiles/", {"data": {"type": "profile", "attributes": {"email": "t@x.com"}}})
    assert created.json()["data"]["attributes"]["created"] == "2025-06-01T00:00:00+00:00"
    assert server.admin("POST", "clock", {"advance": 90}).json()["data"]["now"] == "2025-06-01T00:01:30+00:00"
    running = server.admin("POST", "clock", {"freeze": False}).json()["data"]
    assert running["frozen"] is False
    assert server.admin("POST", "clock", {"reset": True}).json()["data"]["timestamp"] == pytest.approx(
        time.time(), abs=5
    )
    assert server.admin("POST", "clock", {"set": "soon"}).status_code == 400


def test_admin_clock_drives_rate_limits(server: Server) -> None:
    server.admin("POST", "clock", {"freeze": True, "set": "2025-06-01T00:00:00Z"})
    statuses = [server.api("GET", f"/api/profiles/{MISSING}/").status_code for _ in range(76)]
    assert statuses.count(429) == 1
    server.admin("POST", "clock", {"advance": 1})
    assert server.api("GET", f"/api/profiles/{MISSING}/").status_code == 404


def test_admin_keys(server: Server) -> None:
    reply = server.admin("POST", "keys", {"account": "acme", "scopes": ["profiles:read"]})
    assert reply.status_code == 201
    key = reply.json()["data"]["key"]
    assert server.api("GET", f"/api/profiles/{MISSING}/", key=key).status_code == 404
    assert server.api("POST", "/api/profiles/", {}, key=key).status_code == 403
    assert server.admin("POST", "keys", {"scopes": ["everything"]}).status_code == 400


def test_admin_unknown_call_and_method(server: Server) -> None:
    assert server.admin("GET", "nothing").status_code == 404
    wrong = server.admin("PUT", "health")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, OPTIONS"


def test_admin_off_means_off(tmp_path: Path) -> None:
    for server in _server(tmp_path, admin="off"):
        for call in ("health", "reset", "seed", "export", "requests", "faults", "clock", "keys"):
            for method in ("GET", "POST", "DELETE"):
                reply = server.admin(method, call, {})
                assert reply.status_code == 404, (method, call)
                assert reply.json()["errors"][0]["code"] == "not_found"
        assert server.app.store.list_keys()  # nothing was reset
        assert server.api("GET", f"/api/profiles/{MISSING}/").status_code == 404


def test_admin_token(tmp_path: Path) -> None:
    for server in _server(tmp_path, admin_token="s3cret"):
        assert server.admin("GET", "health").status_code == 401
        headers = {"Authorization": "Bearer s3cret"}
        assert server.http.get("/__localviyo/health", headers=headers).status_code == 200
        assert server.http.get("/__localviyo/health", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_serve_seed_file_and_seed_ids(tmp_path: Path) -> None:
    seed_file = tmp_path / "profiles.jsonl"
    seed_file.write_text('{"email": "one@example.com"}\n{"email": "two@example.com"}\n')
    ids = []
    for run in ("a", "b"):
        options = ("--database-url", f"sqlite:///{tmp_path / run / 'db.sqlite'}", "--seed", str(seed_file))
        with serving(tmp_path / run, *options, "--seed-ids", "7", "--frozen-time", "2026-01-01T00:00:00Z") as served:
            assert "seeded 2 profile(s)" in served.stdout
            key = first_run_key("\n".join(served.stdout.splitlines()[:2]))
            listed = served.request("GET", "/api/profiles/", key).json()["data"]
            ids.append([profile["id"] for profile in listed])
    assert len(ids[0]) == 2
    assert ids[0] == ids[1]  # the same seed gives the same ids
