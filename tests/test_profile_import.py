"""Create or Update Profile (POST /api/profile-import/) over HTTP: resolution, write semantics, errors,
response documents, revisions, rate limits and concurrency (one server, and two processes on one file)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from client import Api
from conftest import Live
from examples import SARAH
from expected import ATTRIBUTE_ORDER, assert_error, conflict, duplicate, invalid, invalid_attribute, iso, not_found
from processes import first_run_key, serving, url_of

from localviyo import Settings, accounts, create_app
from localviyo.clock import SystemClock
from localviyo.core import document
from localviyo.core.keys import FULL_ACCESS
from localviyo.revisions import TOO_EARLY
from localviyo.storage import open_store
from localviyo.testing import ServerThread

MISSING = "01GDDKASAP8TKDDA2GRZDSVP4H"
NEW = "2026-10-15"


def imported(api: Api, status: int, attributes: dict[str, Any], **options: Any) -> dict[str, Any]:
    """Import, assert the status (201 created, 200 updated), return the resource object."""
    reply = api.import_profile(attributes, **options)
    assert reply.status == status, reply.text
    data: dict[str, Any] = reply.json()["data"]
    return data


def all_ids(api: Api) -> list[str]:
    reply = api.request("GET", "/api/profiles/", params={"page[size]": "100"})
    assert reply.status == 200, reply.text
    return [item["id"] for item in reply.json()["data"]]


# Creating and resolving


def test_create_or_update_profile_creates_201(api: Api, live: Live) -> None:
    data = imported(api, 201, SARAH)
    assert data["type"] == "profile"
    assert len(data["id"]) == 26
    attributes = data["attributes"]
    for name, value in SARAH.items():
        assert attributes[name] == value, name
    assert attributes["created"] == attributes["updated"] == iso(live.clock.time())
    assert attributes["last_event_date"] is None
    assert api.stored(data["id"]) == attributes


def test_create_or_update_profile_updates_by_email_case_insensitively_200(api: Api) -> None:
    profile = api.create_profile(email="Match@Example.com", first_name="Before", last_name="Kept")
    data = imported(api, 200, {"email": "match@EXAMPLE.com", "first_name": "After"})
    assert data["id"] == profile["id"]
    assert data["attributes"]["first_name"] == "After"
    assert data["attributes"]["last_name"] == "Kept"
    assert data["attributes"]["email"] == "match@EXAMPLE.com"  # stored as given, as on update
    assert all_ids(api) == [profile["id"]]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("phone_number", "+14155552671"),
        ("external_id", "ext-42"),
        ("anonymous_id", "anon-42"),
        ("_kx", "kx-42"),
    ],
)
def test_create_or_update_profile_updates_by_identifier_200(api: Api, field: str, value: str) -> None:
    created = imported(api, 201, {"email": f"by-{field}@example.com", field: value})
    data = imported(api, 200, {field: value, "first_name": "Found"})
    assert data["id"] == created["id"]
    assert data["attributes"]["first_name"] == "Found"
    assert data["attributes"]["email"] == f"by-{field}@example.com"
    assert all_ids(api) == [created["id"]]


def test_create_or_update_profile_updates_by_id_200(api: Api) -> None:
    profile = api.create_profile(email="by-id@example.com")
    reply = api.import_profile({"first_name": "ById"}, profile_id=profile["id"])
    assert reply.status == 200, reply.text
    data = reply.json()["data"]
    assert data["id"] == profile["id"]
    assert data["attributes"]["first_name"] == "ById"
    assert data["attributes"]["email"] == "by-id@example.com"


def test_create_or_update_profile_by_id_with_empty_attributes_changes_nothing(api: Api) -> None:
    profile = api.create_profile(email="by-id-empty@example.com")
    reply = api.import_profile({}, profile_id=profile["id"])
    assert reply.status == 200, reply.text
    assert reply.json()["data"]["attributes"] == profile["attributes"]


def test_create_or_update_profile_adds_identifiers_missing_on_the_match(api: Api) -> None:
    profile = api.create_profile(email="adds@example.com")
    data = imported(
        api,
        200,
        {"email": "adds@example.com", "phone_number": "+14155552672", "external_id": "ext-adds", "_kx": "kx-adds"},
    )
    assert data["id"] == profile["id"]
    assert data["attributes"]["phone_number"] == "+14155552672"
    assert data["attributes"]["external_id"] == "ext-adds"
    assert api.find("phone_number", "+14155552672") == [profile["id"]]
    assert api.find("external_id", "ext-adds") == [profile["id"]]
    assert api.find("_kx", "kx-adds") == [profile["id"]]
    # The added identifiers now resolve to the profile on their own.
    assert imported(api, 200, {"phone_number": "+14155552672"})["id"] == profile["id"]
    assert imported(api, 200, {"_kx": "kx-adds"})["id"] == profile["id"]


def test_create_or_update_profile_by_id_adds_identifiers(api: Api) -> None:
    profile = api.create_profile(external_id="ext-only")
    reply = api.import_profile({"email": "added@example.com"}, profile_id=profile["id"])
    assert reply.status == 200, reply.text
    assert reply.json()["data"]["attributes"]["email"] == "added@example.com"
    assert api.find("email", "added@example.com") == [profile["id"]]


def test_create_or_update_profile_null_id_resolves_by_identifiers(api: Api) -> None:
    body = {"data": {"type": "profile", "id": None, "attributes": {"email": "null-id@example.com"}}}
    created = api.request("POST", "/api/profile-import/", json_body=body)
    assert created.status == 201, created.text
    again = api.request("POST", "/api/profile-import/", json_body=body)
    assert again.status == 200, again.text
    assert again.json()["data"]["id"] == created.json()["data"]["id"]


def test_create_or_update_profile_new_identifier_values_create_201(api: Api) -> None:
    first = imported(api, 201, {"email": "one@example.com"})
    second = imported(api, 201, {"email": "two@example.com"})
    assert first["id"] != second["id"]
    assert sorted(all_ids(api)) == sorted([first["id"], second["id"]])


@pytest.mark.parametrize(
    ("field", "value"),
    [("anonymous_id", "anon-only"), ("_kx", "kx-only"), ("phone_number", "+14155552673")],
)
def test_create_or_update_profile_creates_with_any_one_identifier(api: Api, field: str, value: str) -> None:
    data = imported(api, 201, {field: value, "first_name": "Solo"})
    assert data["attributes"]["first_name"] == "Solo"
    assert imported(api, 200, {field: value})["id"] == data["id"]


# Write semantics


def test_create_or_update_profile_null_clears_and_omitted_keeps(api: Api) -> None:
    profile = api.create_profile(**SARAH)
    data = imported(
        api,
        200,
        {
            "email": SARAH["email"],
            "first_name": None,
            "title": None,
            "phone_number": None,
            "location": {"city": None, "zip": "10018"},
        },
    )
    attributes = data["attributes"]
    assert data["id"] == profile["id"]
    assert attributes["first_name"] is None
    assert attributes["title"] is None
    assert attributes["phone_number"] is None
    assert attributes["last_name"] == "Mason"
    assert attributes["organization"] == "Example Corporation"
    assert attributes["external_id"] == SARAH["external_id"]
    assert attributes["location"] == {**SARAH["location"], "city": None, "zip": "10018"}
    assert attributes["properties"] == SARAH["properties"]
    assert api.stored(profile["id"]) == attributes


def test_create_or_update_profile_location_null_clears_every_key(api: Api) -> None:
    api.create_profile(**SARAH)
    attributes = imported(api, 200, {"email": SARAH["email"], "location": None})["attributes"]
    assert attributes["location"] == dict.fromkeys(SARAH["location"])


def test_create_or_update_profile_nulls_on_create_are_not_set(api: Api) -> None:
    attributes = imported(api, 201, {"email": "nulls@example.com", "first_name": None, "phone_number": None})[
        "attributes"
    ]
    assert attributes["first_name"] is None
    assert attributes["phone_number"] is None
    assert attributes["properties"] == {}


def test_create_or_update_profile_properties_merge_at_top_level(api: Api) -> None:
    api.create_profile(email="props@example.com", properties={"a": 1, "nested": {"x": 1, "y": 2}})
    attributes = imported(api, 200, {"email": "props@example.com", "properties": {"b": [1], "nested": {"x": 3}}})[
        "attributes"
    ]
    assert attributes["properties"] == {"a": 1, "b": [1], "nested": {"x": 3}}
    again = imported(api, 200, {"email": "props@example.com", "properties": None})["attributes"]
    assert again["properties"] == attributes["properties"]


def test_create_or_update_profile_patch_properties(api: Api) -> None:
    api.create_profile(email="patch@example.com", properties={"old": 1, "skus": ["1"], "color": "blue", "k": "v"})
    meta = {"patch_properties": {"append": {"skus": ["2", "3"], "color": "red"}, "unset": ["old"]}}
    reply = api.import_profile({"email": "patch@example.com"}, meta=meta)
    assert reply.status == 200, reply.text
    assert reply.json()["data"]["attributes"]["properties"] == {
        "skus": ["1", "2", "3"],
        "color": ["blue", "red"],
        "k": "v",
    }
    reply = api.import_profile({"email": "patch@example.com"}, meta={"patch_properties": {"unappend": {"skus": "2"}}})
    assert reply.json()["data"]["attributes"]["properties"]["skus"] == ["1", "3"]
    reply = api.import_profile({"email": "patch@example.com"}, meta={"patch_properties": {"unset": "color"}})
    assert reply.json()["data"]["attributes"]["properties"] == {"skus": ["1", "3"], "k": "v"}


def test_create_or_update_profile_patch_properties_when_creating(api: Api) -> None:
    meta = {"patch_properties": {"append": {"skus": "92538"}, "unset": "missing"}}
    reply = api.import_profile({"email": "patch-new@example.com", "properties": {"a": 1}}, meta=meta)
    assert reply.status == 201, reply.text
    assert reply.json()["data"]["attributes"]["properties"] == {"a": 1, "skus": ["92538"]}


def test_create_or_update_profile_properties_then_unset_append_unappend(api: Api) -> None:
    api.create_profile(email="order@example.com", properties={"k": ["old"], "z": 1})
    meta = {"patch_properties": {"unset": ["k"], "append": {"k": ["a", "b", "c"]}, "unappend": {"k": "b"}}}
    reply = api.import_profile({"email": "order@example.com", "properties": {"k": "set", "z": 2}}, meta=meta)
    assert reply.status == 200, reply.text
    assert reply.json()["data"]["attributes"]["properties"] == {"k": ["a", "c"], "z": 2}


def test_create_or_update_profile_unset_of_wrong_type_400(api: Api) -> None:
    api.create_profile(email="unset@example.com", properties={"a": 1})
    reply = api.import_profile({"email": "unset@example.com"}, meta={"patch_properties": {"unset": {"a": 1}}})
    assert_error(
        reply,
        400,
        invalid(
            "Unset must be a string or an array of strings (the property keys to unset).",
            "/data/attributes/meta/patch_properties/unset",
        ),
    )
    assert api.find("email", "unset@example.com") != []
    assert imported(api, 200, {"email": "unset@example.com"})["attributes"]["properties"] == {"a": 1}


def test_create_or_update_profile_write_only_identifiers_never_returned(api: Api) -> None:
    reply = api.import_profile({"email": "wo@example.com", "anonymous_id": "anon-secret", "_kx": "kx-secret"})
    assert reply.status == 201, reply.text
    for text in (reply.text, api.get_profile(reply.json()["data"]["id"]).text):
        assert "anon-secret" not in text
        assert "kx-secret" not in text
        assert "anonymous_id" not in text
        assert "_kx" not in text
    [item] = api.request("GET", "/api/profiles/", params={"filter": 'equals(_kx,"kx-secret")'}).json()["data"]
    assert item["id"] == reply.json()["data"]["id"]
    assert "secret" not in json.dumps(item)


def test_create_or_update_profile_updated_moves_only_on_change(api: Api, live: Live) -> None:
    created = imported(api, 201, {"email": "clock@example.com", "first_name": "A"})["attributes"]
    live.clock.advance(5)
    same = imported(api, 200, {"email": "clock@example.com", "first_name": "A", "properties": {}})["attributes"]
    assert same["updated"] == created["updated"]
    live.clock.advance(5)
    changed = imported(api, 200, {"email": "clock@example.com", "first_name": "B"})["attributes"]
    assert changed["updated"] == iso(live.clock.time())
    assert changed["created"] == created["created"]


def test_create_or_update_profile_may_clear_the_matching_identifier(api: Api) -> None:
    profile = api.create_profile(email="swap@example.com", external_id="ext-swap")
    data = imported(api, 200, {"external_id": "ext-swap", "email": None})
    assert data["id"] == profile["id"]
    assert data["attributes"]["email"] is None
    assert api.find("email", "swap@example.com") == []


def test_create_or_update_profile_no_identifier_left_400(api: Api) -> None:
    profile = api.create_profile(email="last@example.com", first_name="Last")
    reply = api.import_profile({"email": None, "first_name": "Changed"}, profile_id=profile["id"])
    assert_error(
        reply,
        400,
        invalid("One or more identifiers is required", "/data/attributes"),
    )
    assert api.stored(profile["id"])["first_name"] == "Last"


# Errors


def test_create_or_update_profile_unknown_id_404(api: Api) -> None:
    reply = api.import_profile({"email": "ghost@example.com"}, profile_id=MISSING)
    assert_error(
        reply,
        404,
        not_found(MISSING),
    )
    assert api.find("email", "ghost@example.com") == []


@pytest.mark.parametrize(
    "attributes",
    [{}, {"first_name": "Nameless"}, {"email": None, "phone_number": None}, {"properties": {"a": 1}}],
    ids=["empty", "no-identifier", "null-identifiers", "properties-only"],
)
def test_create_or_update_profile_without_identifier_400(api: Api, attributes: dict[str, Any]) -> None:
    reply = api.import_profile(attributes)
    assert_error(
        reply,
        400,
        invalid("One or more identifiers is required", "/data/attributes"),
    )
    assert all_ids(api) == []


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("email", "phone_number"),
        ("phone_number", "external_id"),
        ("external_id", "anonymous_id"),
        ("anonymous_id", "_kx"),
        ("email", "_kx"),
        ("phone_number", "anonymous_id"),
    ],
)
@pytest.mark.parametrize("order", ["priority-first", "priority-last"])
def test_create_or_update_profile_identifiers_of_two_profiles_409(
    api: Api, first: str, second: str, order: str
) -> None:
    values = {
        "email": "Owner@Example.com",
        "phone_number": "+14155552674",
        "external_id": "ext-owner",
        "anonymous_id": "anon-owner",
        "_kx": "kx-owner",
    }
    winner = imported(api, 201, {first: values[first], "first_name": "Winner"})
    loser = imported(api, 201, {second: values[second], "first_name": "Loser"})
    sent = {first: values[first].upper() if first == "email" else values[first], second: values[second]}
    if order == "priority-last":
        sent = dict(reversed(sent.items()))
    reply = api.import_profile({**sent, "first_name": "Changed", "properties": {"x": 1}})
    assert_error(reply, 409, duplicate(winner["id"]))
    assert api.stored(winner["id"]) == winner["attributes"]
    assert api.stored(loser["id"]) == loser["attributes"]
    assert sorted(all_ids(api)) == sorted([winner["id"], loser["id"]])


def test_create_or_update_profile_three_identifiers_two_profiles_409(api: Api) -> None:
    by_phone = api.create_profile(phone_number="+14155552675")
    by_email = api.create_profile(email="three@example.com", external_id="ext-three")
    reply = api.import_profile(
        {"external_id": "ext-three", "phone_number": "+14155552675", "email": "three@example.com"}
    )
    assert_error(reply, 409, duplicate(by_email["id"]))
    assert api.stored(by_phone["id"])["email"] is None
    assert api.stored(by_email["id"])["phone_number"] is None


@pytest.mark.parametrize(
    ("field", "theirs", "ours"),
    [
        ("email", "Taken@Example.com", "tAKEN@example.COM"),
        ("phone_number", "+14155552676", "+14155552676"),
        ("external_id", "ext-taken", "ext-taken"),
    ],
)
def test_create_or_update_profile_id_with_identifier_of_another_profile_409(
    api: Api, field: str, theirs: str, ours: str
) -> None:
    holder = api.create_profile(**{field: theirs})
    profile = api.create_profile(email="mine@example.com")
    reply = api.import_profile({field: ours, "first_name": "Changed"}, profile_id=profile["id"])
    assert_error(reply, 409, duplicate(holder["id"]))
    assert api.stored(profile["id"]) == profile["attributes"]
    assert api.stored(holder["id"]) == holder["attributes"]


@pytest.mark.parametrize(
    ("attributes", "detail", "pointer"),
    [
        ({"email": "not-an-email"}, document.INVALID_EMAIL, "/data/attributes/email"),
        ({"email": "x" * 95 + "@a.com"}, document.INVALID_EMAIL, "/data/attributes/email"),
        (
            {"email": "ok@example.com", "phone_number": "5005550006"},
            document.INVALID_PHONE,
            "/data/attributes/phone_number",
        ),
        ({"phone_number": "+10000000000"}, document.INVALID_PHONE, "/data/attributes/phone_number"),
        (
            {"email": "ok@example.com", "bogus": 1},
            "'bogus' is not a valid field for the resource 'profile'.",
            "/data/attributes/bogus",
        ),
        (
            {"email": "ok@example.com", "locale": "en-US"},
            "'locale' is not a valid field for the resource 'profile'.",
            "/data/attributes/locale",
        ),
        ({"email": "ok@example.com", "first_name": 5}, document.NOT_A_STRING, "/data/attributes/first_name"),
        ({"email": 5}, document.NOT_A_STRING, "/data/attributes/email"),
        ({"_kx": ["k"]}, document.NOT_A_STRING, "/data/attributes/_kx"),
        (
            {"email": "ok@example.com", "location": "NYC"},
            'Expected a dictionary of items but got type "str".',
            "/data/attributes/location",
        ),
        (
            {"email": "ok@example.com", "properties": [1]},
            'Expected a dictionary of items but got type "list".',
            "/data/attributes/properties",
        ),
        (
            {"email": "ok@example.com", "location": {"latitude": "north"}},
            document.NOT_A_NUMBER,
            "/data/attributes/location/latitude",
        ),
    ],
    ids=[
        "email",
        "email-too-long",
        "phone-not-e164",
        "phone-not-real",
        "unknown-attribute",
        "locale-not-in-revision",
        "name-not-string",
        "email-not-string",
        "kx-not-string",
        "location-not-object",
        "properties-not-object",
        "latitude-not-number",
    ],
)
def test_create_or_update_profile_attribute_errors_400(
    api: Api, attributes: dict[str, Any], detail: str, pointer: str
) -> None:
    reply = api.import_profile(attributes)
    assert_error(reply, 400, invalid_attribute(detail, pointer))
    assert all_ids(api) == []


def test_create_or_update_profile_invalid_update_changes_nothing(api: Api) -> None:
    profile = api.create_profile(email="stays@example.com", first_name="Stays")
    reply = api.import_profile({"email": "stays@example.com", "first_name": "Changed", "phone_number": "123"})
    assert_error(reply, 400, invalid_attribute(document.INVALID_PHONE, "/data/attributes/phone_number"))
    assert api.stored(profile["id"]) == profile["attributes"]


def test_create_or_update_profile_several_errors_at_once(api: Api) -> None:
    reply = api.import_profile({"email": "bad", "phone_number": "123", "bogus": 1})
    assert reply.status == 400
    assert [(error["source"]["pointer"], error["detail"]) for error in reply.errors] == [
        ("/data/attributes/email", document.INVALID_EMAIL),
        ("/data/attributes/phone_number", document.INVALID_PHONE),
        ("/data/attributes/bogus", "'bogus' is not a valid field for the resource 'profile'."),
    ]


INVALID_DOCUMENT: dict[str, Any] = {"code": "invalid", "title": "Invalid input.", "meta": {}}


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (
            {"data": {"type": "profile"}},
            400,
            {**INVALID_DOCUMENT, "detail": document.REQUIRED, "source": {"pointer": "/data/attributes"}},
        ),
        (
            {"data": {"attributes": {"email": "t@example.com"}}},
            400,
            {**INVALID_DOCUMENT, "detail": document.REQUIRED, "source": {"pointer": "/data/type"}},
        ),
        (
            {"profile": {}},
            400,
            {**INVALID_DOCUMENT, "detail": document.INVALID_PAYLOAD, "source": {"pointer": "/data"}},
        ),
        (
            {"data": {"type": "profile", "id": 5, "attributes": {"email": "t@example.com"}}},
            400,
            {**INVALID_DOCUMENT, "detail": document.NOT_A_STRING, "source": {"pointer": "/data/id"}},
        ),
        (
            {"data": {"type": "profiles", "attributes": {"email": "t@example.com"}}},
            409,
            conflict(document.WRONG_TYPE.format(got="profiles", expected="profile"), "/data/type"),
        ),
    ],
    ids=["no-attributes", "no-type", "no-data", "id-not-string", "wrong-type"],
)
def test_create_or_update_profile_document_errors(api: Api, body: Any, status: int, expected: dict[str, Any]) -> None:
    reply = api.request("POST", "/api/profile-import/", json_body=body)
    assert_error(reply, status, expected)
    assert all_ids(api) == []


# Response documents, paths and revisions


def test_create_or_update_profile_response_document(api: Api) -> None:
    for status in (201, 200):
        reply = api.import_profile({"email": "doc@example.com", "first_name": "Doc"})
        assert reply.status == status, reply.text
        data = reply.json()["data"]
        assert set(reply.json()) == {"data"}
        assert set(data) == {"type", "id", "attributes", "relationships", "links"}
        assert list(data["attributes"]) == ATTRIBUTE_ORDER
        base = f"{api.url}/api/profiles/{data['id']}"
        assert data["links"] == {"self": f"{base}/"}
        assert data["relationships"] == {
            "lists": {"data": [], "links": {"self": f"{base}/relationships/lists/", "related": f"{base}/lists/"}},
            "segments": {
                "data": [],
                "links": {"self": f"{base}/relationships/segments/", "related": f"{base}/segments/"},
            },
        }


def test_create_or_update_profile_without_trailing_slash(api: Api) -> None:
    reply = api.request(
        "POST",
        "/api/profile-import",
        json_body={"data": {"type": "profile", "attributes": {"email": "noslash@example.com"}}},
    )
    assert reply.status == 201, reply.text
    assert reply.json()["data"]["links"]["self"].endswith("/")


def test_create_or_update_profile_in_revision_2026_10_15(api: Api) -> None:
    options: dict[str, Any] = {"revision": NEW, "content_type": "application/vnd.api+json"}
    created = imported(api, 201, {"email": "new-rev@example.com", "locale": "en-US"}, **options)
    base = f"{api.url}/api/profiles/{created['id']}"
    assert created["links"] == {"self": base}
    assert created["attributes"]["locale"] == "en-US"
    assert set(created["relationships"]) == {"lists", "segments", "push-tokens"}
    assert created["relationships"]["lists"] == {
        "links": {"self": f"{base}/relationships/lists", "related": f"{base}/lists"}
    }
    assert all("data" not in relationship for relationship in created["relationships"].values())
    updated = imported(api, 200, {"email": "new-rev@example.com", "first_name": "N"}, **options)
    assert updated["id"] == created["id"]
    assert updated["attributes"]["locale"] == "en-US"


def test_create_or_update_profile_2026_10_15_has_no_anonymous_id(api: Api) -> None:
    reply = api.import_profile({"email": "anon-new@example.com", "anonymous_id": "a"}, revision=NEW)
    detail = "'anonymous_id' is not a valid field for the resource 'profile'."
    assert_error(reply, 400, invalid_attribute(detail, "/data/attributes/anonymous_id"))


def test_create_or_update_profile_additional_fields_from_2024_10_15(api: Api) -> None:
    params = {"additional-fields[profile]": "subscriptions"}
    old = api.import_profile({"email": "addl@example.com"}, params=params)
    assert old.status == 201, old.text
    assert "subscriptions" not in old.json()["data"]["attributes"]
    new = api.import_profile({"email": "addl@example.com"}, params=params, revision="2024-10-15")
    assert new.status == 200, new.text
    assert new.json()["data"]["attributes"]["subscriptions"]["email"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"


def test_create_or_update_profile_revision_before_the_operation_404(api: Api) -> None:
    reply = api.http.post(
        "/api/profile-import/",
        json={"data": {"type": "profile", "attributes": {"email": "early@example.com"}}},
        headers={"Authorization": f"Klaviyo-API-Key {api.key}", "revision": "2023-12-15"},
    )
    assert reply.status_code == 404, reply.text
    [error] = reply.json()["errors"]
    assert error == {
        "id": error["id"],
        "status": 404,
        "code": "not_found",
        "title": "Not found.",
        "detail": TOO_EARLY.format(value="2023-12-15", earliest="2024-02-15"),
        "source": {"parameter": "revision"},
    }
    assert "before the earliest available, use a date after 2024-02-15" in error["detail"]
    assert all_ids(api) == []


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_create_or_update_profile_other_methods_405(api: Api, method: str) -> None:
    reply = api.request(method, "/api/profile-import/")
    message = f'Method "{method}" not allowed.'
    assert_error(
        reply, 405, {"code": "method_not_allowed", "title": message, "detail": message, "source": {"pointer": "/data/"}}
    )
    assert reply.headers["Allow"] == "POST, OPTIONS"


# Rate limits


def test_create_or_update_profile_rate_limit_headers(api: Api, minute: float) -> None:
    reply = api.import_profile({"email": "limits@example.com"})
    assert reply.status == 201
    assert reply.headers["RateLimit-Limit"] == "700"
    assert reply.headers["RateLimit-Remaining"] == "699"
    assert reply.headers["RateLimit-Reset"] == "60"
    assert api.import_profile({"email": "bad"}).headers["RateLimit-Remaining"] == "698"
    assert api.import_profile({"email": "limits@example.com"}, revision=NEW).headers["RateLimit-Limit"] == "750"


def test_create_or_update_profile_burst_of_75_per_second(api: Api, live: Live, minute: float) -> None:
    assert [api.import_profile({"email": "bad"}).status for _ in range(75)] == [400] * 75
    reply = api.import_profile({"email": "burst@example.com"})
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "1"
    live.clock.advance(1)
    assert api.import_profile({"email": "burst@example.com"}).status == 201


# Concurrency

WORKERS = 20


@dataclass
class Servers:
    urls: list[str]
    key: str

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Klaviyo-API-Key {self.key}", "revision": "2024-02-15"}
        limits = httpx.Limits(max_connections=2 * WORKERS, max_keepalive_connections=2 * WORKERS)
        return httpx.Client(headers=headers, timeout=60, limits=limits)


def check_one_import_creates(servers: Servers, email: str) -> None:
    """WORKERS simultaneous imports of one new email: one 201, the rest 200 on that profile; one profile."""
    barrier = threading.Barrier(WORKERS, timeout=30)
    with servers.client() as http:
        for url in servers.urls:  # warm a connection to each server so the barrier releases requests
            assert http.get(f"{url}/api/profiles/{MISSING}/").status_code == 404

        def send(index: int) -> httpx.Response:
            body = {"data": {"type": "profile", "attributes": {"email": email, "properties": {f"w{index}": index}}}}
            barrier.wait()
            return http.post(f"{servers.urls[index % len(servers.urls)]}/api/profile-import/", json=body)

        with ThreadPoolExecutor(WORKERS) as pool:
            replies = list(pool.map(send, range(WORKERS)))
        statuses = Counter(reply.status_code for reply in replies)
        assert statuses == {201: 1, 200: WORKERS - 1}, [(reply.status_code, reply.text) for reply in replies]
        assert len({reply.json()["data"]["id"] for reply in replies}) == 1
        for url in servers.urls:
            found = http.get(f"{url}/api/profiles/", params={"filter": f'equals(email,"{email}")'})
            assert found.status_code == 200, found.text
            [profile] = found.json()["data"]
            assert profile["attributes"]["properties"] == {f"w{index}": index for index in range(WORKERS)}


@pytest.fixture(scope="module")
def one_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    store = open_store(url_of(tmp_path_factory.mktemp("import-thread") / "localviyo.db"))
    app = create_app(Settings(rate_limits="off"), store=store)
    key = accounts.create_key(store, SystemClock(), scopes=(FULL_ACCESS,))
    with ServerThread(app) as server:
        yield Servers([server.url], key)
    store.close()


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    directory = tmp_path_factory.mktemp("import-processes")
    options = ("--database-url", url_of(directory / "localviyo.db"))
    env = {"LOCALVIYO_RATE_LIMITS": "off"}
    with ExitStack() as stack:
        first = stack.enter_context(serving(directory, *options, env=env))
        key = first_run_key(first.stdout)
        second = stack.enter_context(serving(directory, *options, env=env))
        yield Servers([first.url, second.url], key)


def test_create_or_update_profile_concurrent_same_new_email_in_one_server(one_server: Servers) -> None:
    check_one_import_creates(one_server, "race@example.com")


def test_create_or_update_profile_concurrent_same_new_email_over_two_processes(two_processes: Servers) -> None:
    check_one_import_creates(two_processes, "race@example.com")
