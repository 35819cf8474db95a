"""The `localviyo` command through real subprocesses: keys, migrate, settings, and `serve` on a real port."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import (
    KEY,
    MISSING_ID,
    Served,
    cli,
    create_key,
    error_code,
    first_run_key,
    free_port,
    list_keys,
    revoke,
    serving,
    stored_key_hashes,
    url_of,
)

# keys create / list / revoke, before any server ran


def test_keys_create_on_a_fresh_database_prints_one_key(tmp_path: Path) -> None:
    database = tmp_path / "fresh.db"
    key = create_key(database)
    [[label, account, scopes, _created, state]] = list_keys(database)
    assert (label, account, scopes, state) == (f"{key[:6]}…{key[-4:]}", "default", "full-access", "active")


def test_keys_create_with_account_and_scopes(tmp_path: Path) -> None:
    database = tmp_path / "scoped.db"
    key = create_key(database, "--account", "shop", "--scopes", "profiles:read")
    other = create_key(database, "--account", "shop", "--full-access")
    rows = {row[0]: row for row in list_keys(database)}
    assert rows[f"{key[:6]}…{key[-4:]}"][1:3] == ["shop", "profiles:read"]
    assert rows[f"{other[:6]}…{other[-4:]}"][1:3] == ["shop", "full-access"]


@pytest.mark.parametrize(
    "options",
    [
        ["--scopes", "profiles"],
        ["--scopes", "profiles:read,profiles:delete"],
        ["--scopes", ","],
        ["--scopes", "profiles:read", "--full-access"],
    ],
)
def test_keys_create_refuses_bad_options_and_creates_nothing(tmp_path: Path, options: list[str]) -> None:
    database = tmp_path / "refused.db"
    result = cli("keys", "create", "--database-url", url_of(database), *options)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Usage:" in result.stderr
    assert result.stdout == ""
    assert stored_key_hashes(database) == []


def test_keys_list_never_shows_the_key_and_revoke_marks_it(tmp_path: Path) -> None:
    database = tmp_path / "revoke.db"
    first, second = create_key(database), create_key(database, "--account", "other")
    listing = cli("keys", "list", "--database-url", url_of(database))
    assert listing.returncode == 0, listing.stderr
    assert first[3:] not in listing.stdout and second[3:] not in listing.stdout
    rows = [line.split("\t") for line in listing.stdout.splitlines()]
    assert [len(row) for row in rows] == [5, 5], rows
    assert {row[0] for row in rows} == {f"{first[:6]}…{first[-4:]}", f"{second[:6]}…{second[-4:]}"}
    assert [row[4] for row in rows] == ["active", "active"]

    result = revoke(database, first)
    assert (result.returncode, result.stdout.strip()) == (0, "revoked"), result.stderr
    states = {row[0]: row[4] for row in list_keys(database)}
    assert re.match(r"^revoked \d{4}-\d\d-\d\dT", states[f"{first[:6]}…{first[-4:]}"])
    assert states[f"{second[:6]}…{second[-4:]}"] == "active"

    again = revoke(database, first)
    assert again.returncode == 1
    assert "no such active key" in again.stderr


def test_revoking_an_unknown_key_fails(tmp_path: Path) -> None:
    database = tmp_path / "unknown.db"
    create_key(database)
    result = revoke(database, "pk_" + "0" * 34)
    assert result.returncode == 1
    assert "no such active key" in result.stderr
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT revoked FROM api_keys").fetchall() == [(None,)]
    db.close()


def test_the_database_stores_only_hashes_of_keys(tmp_path: Path) -> None:
    database = tmp_path / "hashes.db"
    keys = [create_key(database), create_key(database, "--scopes", "profiles:read", "--account", "b")]
    revoke(database, keys[0])
    with sqlite3.connect(database) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        values = [value for table in tables for row in db.execute(f'SELECT * FROM "{table}"') for value in row]
        stored_hashes = {row[0] for row in db.execute("SELECT hash FROM api_keys")}
    db.close()
    texts = [value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value) for value in values]
    for key in keys:
        assert not [text for text in texts if key[3:] in text], key
    assert stored_hashes == {hashlib.sha256(key.encode()).hexdigest() for key in keys}
    # Nor anywhere in the files (a WAL not yet checkpointed included).
    for path in tmp_path.glob("hashes.db*"):
        raw = path.read_bytes()
        for key in keys:
            assert key[3:].encode() not in raw, path


# migrate, --help, settings


def test_help_lists_the_commands() -> None:
    result = cli("--help")
    assert result.returncode == 0, result.stderr
    for command in ("serve", "migrate", "keys"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.MULTILINE), result.stdout
    keys_help = cli("keys", "--help")
    assert keys_help.returncode == 0
    for command in ("create", "list", "revoke"):
        assert re.search(rf"^\s+{command}\s", keys_help.stdout, re.MULTILINE), keys_help.stdout


def test_migrate_applies_then_has_nothing_to_apply(tmp_path: Path) -> None:
    database = tmp_path / "migrate.db"
    first = cli("migrate", "--database-url", url_of(database))
    assert first.returncode == 0, first.stderr
    match = re.match(r"^applied (\d+) migration\(s\): \S", first.stdout)
    assert match and int(match.group(1)) >= 1, first.stdout
    second = cli("migrate", "--database-url", url_of(database))
    assert (second.returncode, second.stdout.strip()) == (0, "applied 0 migration(s)"), second.stderr
    assert stored_key_hashes(database) == []  # migrate creates no key


def test_database_url_from_the_environment(tmp_path: Path) -> None:
    database = tmp_path / "from-env.db"
    env = {"LOCALVIYO_DATABASE_URL": url_of(database)}
    result = cli("keys", "create", env=env)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert KEY.match(key)
    assert database.exists()
    listed = cli("keys", "list", env=env)
    assert listed.stdout.split("\t")[0] == f"{key[:6]}…{key[-4:]}"
    # A flag wins over the variable.
    assert cli("keys", "list", "--database-url", url_of(tmp_path / "other.db"), env=env).stdout == ""


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOCALVIYO_RATE_LIMITS", "sometimes"),
        ("LOCALVIYO_PORT", "eighty"),
        ("LOCALVIYO_EXTERNAL_ID_UNIQUE", "maybe"),
    ],
)
def test_an_invalid_environment_value_is_a_usage_error(tmp_path: Path, variable: str, value: str) -> None:
    env = {"LOCALVIYO_DATABASE_URL": url_of(tmp_path / "env.db"), "LOCALVIYO_PORT": str(free_port()), variable: value}
    result = cli("serve", env=env, timeout=15)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Usage:" in result.stderr and variable in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "options", [["--port", "eighty"], ["--external-id-unique", "maybe"]], ids=["port", "external-id-unique"]
)
def test_an_invalid_flag_value_is_a_usage_error(tmp_path: Path, options: list[str]) -> None:
    result = cli("serve", "--database-url", url_of(tmp_path / "flag.db"), *options, timeout=15)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Usage:" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_takes_its_settings_from_the_environment(tmp_path: Path) -> None:
    """Database, port and rate limits all from LOCALVIYO_*: no RateLimit-* headers with limits off."""
    database, port = tmp_path / "env-serve.db", free_port()
    env = {"LOCALVIYO_DATABASE_URL": url_of(database), "LOCALVIYO_PORT": str(port), "LOCALVIYO_RATE_LIMITS": "off"}
    with serving(tmp_path, env=env, port=port) as served:
        key = first_run_key(served.stdout)
        response = served.request("GET", f"/api/profiles/{MISSING_ID}/", key)
        assert response.status_code == 404, response.text
        assert not [name for name in response.headers if name.lower().startswith("ratelimit")], response.headers
    assert database.exists()


def test_serve_on_uvicorn_answers_as_on_its_own_server(tmp_path: Path) -> None:
    """`--http-server uvicorn` hands the compiled app uvicorn's ASGI scope instead of localviyo.http's."""
    answers: dict[str, list[tuple[int, Any]]] = {}
    for server in ("localviyo", "uvicorn"):
        database = tmp_path / f"{server}.db"
        options = ("--database-url", url_of(database), "--http-server", server, "--frozen-time", "2026-11-30T12:00:00Z")
        with serving(tmp_path / server, *options, "--seed-ids", "7", "--rate-limits", "off") as served:
            key = first_run_key(served.stdout)
            created = served.request("POST", "/api/profiles/", key, _profile({"email": "ada@example.com"}))
            profile_id = created.json()["data"]["id"]
            replies = [
                created,
                served.request("PATCH", f"/api/profiles/{profile_id}/", key, _profile({"title": "Dr"}, profile_id)),
                served.request("PATCH", f"/api/profiles/{profile_id}/", key, _profile({"email": "x"}, profile_id)),
                served.request("GET", f"/api/profiles/{profile_id}/?fields[profile]=email,title", key),
                served.request("GET", f"/api/profiles/{MISSING_ID}/", key),
            ]
            answers[server] = [(reply.status_code, _without_host(reply.text, served.url)) for reply in replies]
    assert [status for status, _ in answers["uvicorn"]] == [201, 200, 400, 200, 404]
    assert answers["uvicorn"] == answers["localviyo"]


def _profile(attributes: dict[str, Any], profile_id: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "profile", "attributes": attributes}
    if profile_id is not None:
        data["id"] = profile_id
    return {"data": data}


def _without_host(text: str, url: str) -> str:
    return text.replace(url, "http://server")


# serve: one server for the module, on an empty store, with Klaviyo's rate limits


@dataclass
class Server:
    served: Served
    database: Path
    key: str

    def request(self, method: str, path: str, key: str | None = None, body: Any = None) -> httpx.Response:
        return self.served.request(method, path, key or self.key, body)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("serve")
    database = directory / "localviyo.db"
    with serving(directory, "--database-url", url_of(database)) as served:
        yield Server(served, database, first_run_key(served.stdout))


def test_serve_prints_a_key_that_works(server: Server) -> None:
    assert [row[1:3] for row in list_keys(server.database)] == [["default", "full-access"]]
    response = server.request("GET", f"/api/profiles/{MISSING_ID}/")
    assert response.status_code == 404, response.text
    assert error_code(response) == "not_found"
    assert "RateLimit-Limit" in response.headers and "RateLimit-Remaining" in response.headers


def test_a_running_server_honours_keys_created_and_revoked_while_it_runs(server: Server) -> None:
    key = create_key(server.database, "--account", "late")
    body = {"data": {"type": "profile", "attributes": {"email": "late@example.com"}}}
    created = server.request("POST", "/api/profiles/", key, body)
    assert created.status_code == 201, created.text
    profile_id = created.json()["data"]["id"]
    assert server.request("GET", f"/api/profiles/{profile_id}/", key).status_code == 200
    # Another account's key does not see the profile.
    assert server.request("GET", f"/api/profiles/{profile_id}/").status_code == 404

    result = revoke(server.database, key)
    assert result.returncode == 0, result.stderr
    refused = server.request("GET", f"/api/profiles/{profile_id}/", key)
    assert refused.status_code == 401, refused.text
    assert error_code(refused) == "authentication_failed"
    assert server.request("GET", f"/api/profiles/{MISSING_ID}/").status_code == 404  # other keys still work


def test_a_read_only_key_may_read_but_not_write(server: Server) -> None:
    created = server.request(
        "POST", "/api/profiles/", body={"data": {"type": "profile", "attributes": {"email": "reader@example.com"}}}
    )
    assert created.status_code == 201, created.text
    profile_id = created.json()["data"]["id"]
    reader = create_key(server.database, "--scopes", "profiles:read")  # the same (default) account

    read = server.request("GET", f"/api/profiles/{profile_id}/", reader)
    assert read.status_code == 200, read.text
    assert read.json()["data"]["attributes"]["email"] == "reader@example.com"
    assert server.request("GET", f"/api/profiles/{MISSING_ID}/", reader).status_code == 404

    body = {"data": {"type": "profile", "id": profile_id, "attributes": {"first_name": "Nope"}}}
    patched = server.request("PATCH", f"/api/profiles/{profile_id}/", reader, body)
    assert patched.status_code == 403, patched.text
    assert error_code(patched) == "permission_denied"
    body = {"data": {"type": "profile", "attributes": {"email": "writer@example.com"}}}
    posted = server.request("POST", "/api/profiles/", reader, body)
    assert posted.status_code == 403, posted.text
    assert error_code(posted) == "permission_denied"
    after = server.request("GET", f"/api/profiles/{profile_id}/", reader)
    assert after.json()["data"]["attributes"] == read.json()["data"]["attributes"]
