"""Keys, scopes and accounts: who may do what, and who sees what."""

from __future__ import annotations

import pytest
from client import Api
from conftest import Live

from localviyo import accounts
from localviyo.core.keys import hash_key

PROFILE = "01GDDKASAP8TKDDA2GRZDSVP4H"


@pytest.mark.parametrize(
    "authorization",
    [None, "", "pk_abc", "Bearer pk_abc", "Klaviyo-API-Key", "Basic dXNlcjpwYXNz"],
    ids=["absent", "empty", "bare-key", "bearer", "scheme-only", "basic"],
)
def test_missing_key_401(api: Api, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    reply = api.request("GET", f"/api/profiles/{PROFILE}/", key="", headers=headers)
    assert reply.status == 401
    assert reply.json()["errors"][0] == {
        "id": reply.error["id"],
        "status": 401,
        "code": "not_authenticated",
        "title": "Authentication credentials were not provided.",
        "detail": "Missing or invalid private key.",
        "source": {"pointer": "/data/"},
    }


def test_unknown_key_401(api: Api) -> None:
    reply = api.request("GET", f"/api/profiles/{PROFILE}/", key="pk_" + "x" * 34)
    assert reply.status == 401
    assert reply.error["code"] == "authentication_failed"
    assert reply.error["title"] == "Incorrect authentication credentials."
    assert reply.error["detail"] == "Incorrect authentication credentials."


def test_scheme_is_case_insensitive(api: Api) -> None:
    reply = api.request("GET", f"/api/profiles/{PROFILE}/", headers={"Authorization": f"klaviyo-api-key {api.key}"})
    assert reply.status == 404


def test_revoked_key_401_from_the_next_request(api: Api, live: Live) -> None:
    _, key = live.new_account()
    assert api.request("GET", f"/api/profiles/{PROFILE}/", key=key).status == 404
    assert accounts.revoke_key(live.store, live.clock, key)
    reply = api.request("GET", f"/api/profiles/{PROFILE}/", key=key)
    assert reply.status == 401
    assert reply.error["code"] == "authentication_failed"


def test_key_created_while_running_works_at_once(api: Api, live: Live) -> None:
    key = live.key("late-account")
    assert api.request("POST", "/api/profiles/", key=key, json_body=_create("late@example.com")).status == 201


def _create(email: str) -> dict[str, object]:
    return {"data": {"type": "profile", "attributes": {"email": email}}}


def test_read_key_cannot_write_403(api: Api, live: Live) -> None:
    _, key = live.new_account(scopes=("profiles:read",))
    reply = api.request("POST", "/api/profiles/", key=key, json_body=_create("ro@example.com"))
    assert reply.status == 403
    assert reply.json()["errors"][0] == {
        "id": reply.error["id"],
        "status": 403,
        "code": "permission_denied",
        "title": "You do not have permission to perform this action.",
        "detail": "You do not have permission to perform this action.",
        "source": {"pointer": "/data/"},
    }
    assert api.request("GET", f"/api/profiles/{PROFILE}/", key=key).status == 404


@pytest.mark.parametrize(
    ("scopes", "get", "write"),
    [
        (("profiles:read",), 404, 403),
        (("profiles:write",), 404, 201),
        (("lists:read", "lists:write"), 403, 403),
        (("profiles:read", "profiles:write"), 404, 201),
        (("*",), 404, 201),
    ],
    ids=["read", "write-implies-read", "other-resource", "both", "full-access"],
)
def test_scopes_per_operation(api: Api, live: Live, scopes: tuple[str, ...], get: int, write: int) -> None:
    _, key = live.new_account(scopes=scopes)
    assert api.request("GET", f"/api/profiles/{PROFILE}/", key=key).status == get
    assert api.request("POST", "/api/profiles/", key=key, json_body=_create("scoped@example.com")).status == write


def test_scope_is_checked_before_the_body(api: Api, live: Live) -> None:
    _, key = live.new_account(scopes=("profiles:read",))
    assert api.request("POST", "/api/profiles/", key=key, content="{broken").status == 403


def test_accounts_do_not_see_each_others_profiles(api: Api, live: Live) -> None:
    mine = api.create_profile(email="private@example.com", first_name="Mine")
    _, theirs = live.new_account()
    other = Api(live.url, theirs)
    try:
        for reply in (
            other.get_profile(mine["id"]),
            other.update_profile(mine["id"], {"first_name": "Stolen"}),
        ):
            assert reply.status == 404
            assert reply.error["detail"] == f"A profile with id {mine['id']} does not exist."
            assert "private@example.com" not in reply.text
        # Identifiers are unique per account, not across accounts.
        same_email = other.create_profile(email="private@example.com")
        assert same_email["id"] != mine["id"]
    finally:
        other.close()
    assert api.get_profile(mine["id"]).json()["data"]["attributes"]["first_name"] == "Mine"


def test_second_key_of_an_account_sees_its_profiles(api: Api, live: Live) -> None:
    name, key = live.new_account()
    first = Api(live.url, key)
    second = Api(live.url, live.key(name, scopes=("profiles:read",)))
    try:
        profile = first.create_profile(email="shared@example.com")
        assert second.get_profile(profile["id"]).status == 200
    finally:
        first.close()
        second.close()


def test_keys_are_stored_only_as_hashes(live: Live) -> None:
    _, key = live.new_account()
    records = live.store.list_keys()
    assert any(record.hash == hash_key(key) for record in records)
    assert all(key not in (record.hash, record.label) for record in records)
