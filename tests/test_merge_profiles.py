"""Merge Profiles (POST /api/profile-merge/) over HTTP: the response, the merge rules of core/merge.py,
what becomes of the source's identifiers, errors, account isolation and the 10/s, 150/m tier."""

from __future__ import annotations

from typing import Any

import pytest
from client import Api, Reply
from conftest import Live
from expected import assert_error, conflict, invalid, iso, not_found

from localviyo.core import document

MISSING = "01GDDKASAP8TKDDA2GRZDSVP4H"
NEW = "2026-10-15"
LOCATION_KEYS = ("address1", "address2", "city", "country", "latitude", "longitude", "region", "zip", "timezone", "ip")


def merge_body(destination: Any, sources: list[Any], kind: str = "profile-merge") -> dict[str, Any]:
    data = [{"type": "profile", "id": source} for source in sources]
    return {"data": {"type": kind, "id": destination, "relationships": {"profiles": {"data": data}}}}


def merge(api: Api, destination: str, source: str, **options: Any) -> Reply:
    path = "/api/profile-merge/" if api.trailing_slash(options.get("revision")) else "/api/profile-merge"
    return api.request("POST", path, json_body=merge_body(destination, [source]), **options)


def merged(api: Api, destination: str, source: str) -> dict[str, Any]:
    """Merge, assert success, return the destination's attributes as stored afterwards."""
    reply = merge(api, destination, source)
    assert reply.status == 201, reply.text
    return api.stored(destination)


def imported(api: Api, attributes: dict[str, Any]) -> str:
    """A new profile made by create_or_update_profile (which takes anonymous_id and _kx); its id."""
    reply = api.import_profile(attributes)
    assert reply.status == 201, reply.text
    profile_id: str = reply.json()["data"]["id"]
    return profile_id


# The response and the effect


def test_merge_profiles_201_names_the_destination(api: Api) -> None:
    destination = api.create_profile(email="dest@example.com")["id"]
    source = api.create_profile(email="src@example.com")["id"]
    reply = merge(api, destination, source)
    assert reply.status == 201, reply.text
    assert reply.json() == {
        "data": {"type": "profile", "id": destination, "links": {"self": f"{api.url}/api/profiles/{destination}/"}}
    }


def test_merge_profiles_deletes_the_source(api: Api) -> None:
    destination = api.create_profile(email="dest-del@example.com")["id"]
    source = api.create_profile(email="src-del@example.com")["id"]
    assert merge(api, destination, source).status == 201
    assert_error(api.get_profile(source), 404, not_found(source))
    assert api.get_profile(destination).status == 200
    assert api.find("email", "src-del@example.com") == []
    # Merging it again: the source no longer exists.
    assert_error(merge(api, destination, source), 404, not_found(source))


def test_merge_profiles_destination_wins_and_source_fills_nulls(api: Api) -> None:
    destination = api.create_profile(
        email="dest-win@example.com", first_name="Dest", organization="Dest Org", image="https://d.example/i.png"
    )["id"]
    source = api.create_profile(
        email="src-win@example.com",
        phone_number="+14155552680",
        external_id="ext-src-win",
        first_name="Src",
        last_name="Source-Last",
        title="Src Title",
        organization="Src Org",
    )["id"]
    attributes = merged(api, destination, source)
    assert attributes["email"] == "dest-win@example.com"
    assert attributes["phone_number"] == "+14155552680"
    assert attributes["external_id"] == "ext-src-win"
    assert attributes["first_name"] == "Dest"
    assert attributes["last_name"] == "Source-Last"
    assert attributes["organization"] == "Dest Org"
    assert attributes["title"] == "Src Title"
    assert attributes["image"] == "https://d.example/i.png"


def test_merge_profiles_location_key_by_key(api: Api) -> None:
    destination = api.create_profile(
        email="dest-loc@example.com", location={"city": "Boston", "latitude": 42.36, "region": "MA"}
    )["id"]
    source = api.create_profile(
        email="src-loc@example.com",
        location={"city": "New York", "zip": "10017", "latitude": "40.7128", "longitude": "-74.0060"},
    )["id"]
    location = merged(api, destination, source)["location"]
    assert location == {
        **dict.fromkeys(LOCATION_KEYS),
        "city": "Boston",
        "region": "MA",
        "latitude": 42.36,
        "zip": "10017",
        "longitude": "-74.0060",
    }


def test_merge_profiles_properties_key_by_key(api: Api) -> None:
    destination = api.create_profile(
        email="dest-props@example.com", properties={"a": 1, "shared": "dest", "nested": {"x": 1}}
    )["id"]
    source = api.create_profile(
        email="src-props@example.com", properties={"b": [1, 2], "shared": "src", "nested": {"y": 2}}
    )["id"]
    properties = merged(api, destination, source)["properties"]
    assert properties == {"a": 1, "b": [1, 2], "shared": "dest", "nested": {"x": 1}}


def test_merge_profiles_keeps_the_earlier_created(api: Api, live: Live) -> None:
    older = api.create_profile(email="older@example.com")
    live.clock.advance(60)
    newer = api.create_profile(email="newer@example.com")
    live.clock.advance(60)
    attributes = merged(api, newer["id"], older["id"])
    assert attributes["created"] == older["attributes"]["created"]
    assert attributes["updated"] == iso(live.clock.time())


def test_merge_profiles_older_destination_keeps_its_created(api: Api, live: Live) -> None:
    older = api.create_profile(email="older-dest@example.com")
    live.clock.advance(60)
    newer = api.create_profile(email="newer-src@example.com")
    attributes = merged(api, older["id"], newer["id"])
    assert attributes["created"] == older["attributes"]["created"]


# The source's identifiers


def test_merge_profiles_source_identifiers_find_the_destination(api: Api) -> None:
    destination = api.create_profile(external_id="ext-dest-only")["id"]
    source = api.create_profile(email="Moved@Example.com", phone_number="+14155552681")["id"]
    assert merge(api, destination, source).status == 201
    assert api.find("email", "moved@example.com") == [destination]
    assert api.find("phone_number", "+14155552681") == [destination]
    assert api.find("external_id", "ext-dest-only") == [destination]
    # Profile-import resolves them to the destination too.
    reply = api.import_profile({"email": "MOVED@example.com", "first_name": "Found"})
    assert reply.status == 200, reply.text
    assert reply.json()["data"]["id"] == destination


def test_merge_profiles_write_only_identifiers_move_to_the_destination(api: Api) -> None:
    destination = imported(api, {"email": "dest-anon@example.com"})
    source = imported(api, {"external_id": "ext-src-anon", "anonymous_id": "anon-src", "_kx": "kx-src"})
    assert merge(api, destination, source).status == 201
    for attributes in ({"anonymous_id": "anon-src"}, {"_kx": "kx-src"}, {"external_id": "ext-src-anon"}):
        reply = api.import_profile(attributes)
        assert reply.status == 200, reply.text
        assert reply.json()["data"]["id"] == destination
    assert api.find("_kx", "kx-src") == [destination]


def test_merge_profiles_dropped_identifier_is_free_again(api: Api) -> None:
    destination = api.create_profile(email="kept@example.com", phone_number="+14155552682")["id"]
    source = api.create_profile(email="dropped@example.com", phone_number="+14155552683")["id"]
    attributes = merged(api, destination, source)
    assert attributes["email"] == "kept@example.com"
    assert attributes["phone_number"] == "+14155552682"
    assert api.find("email", "dropped@example.com") == []
    assert api.find("phone_number", "+14155552683") == []
    reborn = api.create_profile(email="dropped@example.com", phone_number="+14155552683")
    assert reborn["id"] not in (destination, source)
    assert api.find("email", "dropped@example.com") == [reborn["id"]]


def test_merge_profiles_dropped_write_only_identifier_is_free_again(api: Api) -> None:
    destination = imported(api, {"email": "dest-kx@example.com", "_kx": "kx-kept"})
    source = imported(api, {"email": "src-kx@example.com", "_kx": "kx-dropped"})
    assert merge(api, destination, source).status == 201
    assert api.import_profile({"_kx": "kx-dropped"}).status == 201


# Errors


def test_merge_profiles_unknown_destination_404(api: Api) -> None:
    source = api.create_profile(email="src-alone@example.com", first_name="Alone")
    assert_error(merge(api, MISSING, source["id"]), 404, not_found(MISSING))
    assert api.stored(source["id"]) == source["attributes"]


def test_merge_profiles_unknown_source_404(api: Api) -> None:
    destination = api.create_profile(email="dest-alone@example.com", first_name="Alone")
    assert_error(merge(api, destination["id"], MISSING), 404, not_found(MISSING))
    assert api.stored(destination["id"]) == destination["attributes"]


def test_merge_profiles_same_profile_twice_400(api: Api) -> None:
    profile = api.create_profile(email="self@example.com")
    reply = merge(api, profile["id"], profile["id"])
    assert_error(reply, 400, invalid(document.MERGE_SAME, "/data/relationships/profiles/data/0/id"))
    assert api.stored(profile["id"]) == profile["attributes"]


@pytest.mark.parametrize("count", [0, 2])
def test_merge_profiles_needs_exactly_one_source_400(api: Api, count: int) -> None:
    destination = api.create_profile(email="dest-count@example.com")["id"]
    sources = [api.create_profile(email=f"src-{n}@example.com")["id"] for n in range(count)]
    reply = api.request("POST", "/api/profile-merge/", json_body=merge_body(destination, sources))
    assert_error(reply, 400, invalid(document.MERGE_ONE_SOURCE, "/data/relationships/profiles/data"))
    for source in sources:
        assert api.get_profile(source).status == 200


@pytest.mark.parametrize(
    "relationships",
    [
        None,
        {},
        {"profiles": None},
        {"profiles": {"data": {"type": "profile", "id": MISSING}}},
        {"profiles": {"data": [MISSING]}},
    ],
    ids=["no-relationships", "empty-relationships", "null-profiles", "data-not-list", "source-not-object"],
)
def test_merge_profiles_malformed_relationships_400(api: Api, relationships: Any) -> None:
    destination = api.create_profile(email="dest-rel@example.com")["id"]
    data: dict[str, Any] = {"type": "profile-merge", "id": destination}
    if relationships is not None:
        data["relationships"] = relationships
    reply = api.request("POST", "/api/profile-merge/", json_body={"data": data})
    assert_error(reply, 400, invalid(document.MERGE_ONE_SOURCE, "/data/relationships/profiles/data"))


def test_merge_profiles_missing_destination_id_400(api: Api) -> None:
    source = api.create_profile(email="src-noid@example.com")["id"]
    reply = api.request("POST", "/api/profile-merge/", json_body=merge_body(None, [source]))
    assert_error(reply, 400, invalid(document.MISSING_ID, "/data/id"))


def test_merge_profiles_missing_source_id_400(api: Api) -> None:
    destination = api.create_profile(email="dest-nosrc@example.com")["id"]
    body = merge_body(destination, [])
    body["data"]["relationships"]["profiles"]["data"] = [{"type": "profile"}]
    reply = api.request("POST", "/api/profile-merge/", json_body=body)
    assert_error(reply, 400, invalid(document.MISSING_ID, "/data/relationships/profiles/data/0/id"))


def test_merge_profiles_wrong_type_409(api: Api) -> None:
    destination = api.create_profile(email="dest-type@example.com")["id"]
    source = api.create_profile(email="src-type@example.com")["id"]
    body = merge_body(destination, [source], kind="profile")
    reply = api.request("POST", "/api/profile-merge/", json_body=body)
    assert_error(
        reply,
        409,
        conflict(document.WRONG_TYPE.format(got="profile", expected="profile-merge"), "/data/type"),
    )
    assert api.get_profile(source).status == 200


def test_merge_profiles_wrong_source_type_409(api: Api) -> None:
    destination = api.create_profile(email="dest-stype@example.com")["id"]
    source = api.create_profile(email="src-stype@example.com")["id"]
    body = merge_body(destination, [source])
    body["data"]["relationships"]["profiles"]["data"][0]["type"] = "profiles"
    reply = api.request("POST", "/api/profile-merge/", json_body=body)
    assert_error(
        reply,
        409,
        conflict(
            document.WRONG_TYPE.format(got="profiles", expected="profile"), "/data/relationships/profiles/data/0/type"
        ),
    )
    assert api.get_profile(source).status == 200


@pytest.mark.parametrize(
    ("body", "pointer", "detail"),
    [
        ({"profile-merge": {}}, "/data", document.INVALID_PAYLOAD),
        ({"data": {"id": MISSING}}, "/data/type", document.REQUIRED),
    ],
    ids=["no-data", "no-type"],
)
def test_merge_profiles_document_errors_400(api: Api, body: Any, pointer: str, detail: str) -> None:
    reply = api.request("POST", "/api/profile-merge/", json_body=body)
    assert_error(reply, 400, invalid(detail, pointer))


# Accounts


def test_merge_profiles_other_accounts_profiles_are_unknown(api: Api, live: Live) -> None:
    _, other_key = live.new_account()
    other = Api(live.url, other_key)
    try:
        theirs = other.create_profile(email="theirs@example.com", first_name="Theirs")
        mine = api.create_profile(email="mine@example.com")
        assert_error(merge(api, mine["id"], theirs["id"]), 404, not_found(theirs["id"]))
        assert_error(merge(api, theirs["id"], mine["id"]), 404, not_found(theirs["id"]))
        assert other.stored(theirs["id"]) == theirs["attributes"]
        assert api.stored(mine["id"]) == mine["attributes"]
        # The other account may merge its own profiles; ours stay out of reach.
        also_theirs = other.create_profile(email="also-theirs@example.com")
        assert merge(other, theirs["id"], also_theirs["id"]).status == 201
        assert_error(merge(other, theirs["id"], mine["id"]), 404, not_found(mine["id"]))
    finally:
        other.close()


# Revisions and rate limits


def test_merge_profiles_in_revision_2026_10_15(api: Api) -> None:
    destination = api.create_profile(email="dest-new@example.com")["id"]
    source = api.create_profile(email="src-new@example.com")["id"]
    reply = merge(api, destination, source, revision=NEW, content_type="application/vnd.api+json")
    assert reply.status == 201, reply.text
    assert reply.json() == {
        "data": {"type": "profile", "id": destination, "links": {"self": f"{api.url}/api/profiles/{destination}"}}
    }
    assert reply.headers["RateLimit-Limit"] == "150"


def test_merge_profiles_in_revision_2023_12_15(api: Api) -> None:
    """Merge Profiles is older than 2024-02-15 (unlike Create or Update Profile), so earlier revisions work."""
    destination = api.create_profile(email="dest-old@example.com")["id"]
    source = api.create_profile(email="src-old@example.com")["id"]
    reply = merge(api, destination, source, revision="2023-12-15")
    assert reply.status == 201, reply.text
    assert reply.json()["data"]["links"]["self"] == f"{api.url}/api/profiles/{destination}/"


def test_merge_profiles_other_methods_405(api: Api) -> None:
    reply = api.request("GET", "/api/profile-merge/")
    message = 'Method "GET" not allowed.'
    assert_error(
        reply, 405, {"code": "method_not_allowed", "title": message, "detail": message, "source": {"pointer": "/data/"}}
    )
    assert reply.headers["Allow"] == "POST, OPTIONS"


def test_merge_profiles_rate_limit_headers(api: Api, minute: float) -> None:
    reply = merge(api, MISSING, MISSING[:-1] + "J")
    assert reply.status == 404
    assert reply.headers["RateLimit-Limit"] == "150"
    assert reply.headers["RateLimit-Remaining"] == "149"
    assert reply.headers["RateLimit-Reset"] == "60"


def test_merge_profiles_burst_of_10_per_second(api: Api, live: Live, minute: float) -> None:
    source = MISSING[:-1] + "J"
    assert [merge(api, MISSING, source).status for _ in range(10)] == [404] * 10
    reply = merge(api, MISSING, source)
    assert_error(
        reply,
        429,
        {
            "code": "throttled",
            "title": "Request was throttled.",
            "detail": "Request was throttled. Expected available in 1 second.",
            "source": {"pointer": "/data"},
            "links": {"type": "https://developers.klaviyo.com/en/docs/rate_limits_and_error_handling#rate-limits"},
            "meta": {},
        },
    )
    assert reply.headers["Retry-After"] == "1"
    assert not any(name.lower().startswith("ratelimit-") for name in reply.headers)
    live.clock.advance(1)
    assert merge(api, MISSING, source).status == 404


def test_merge_profiles_steady_150_per_minute(api: Api, live: Live, minute: float) -> None:
    source = MISSING[:-1] + "J"
    for second in range(15):
        live.clock.set(minute + second)
        assert [merge(api, MISSING, source).status for _ in range(10)] == [404] * 10
    live.clock.set(minute + 20.5)
    reply = merge(api, MISSING, source)
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "40"
    live.clock.set(minute + 60)
    assert merge(api, MISSING, source).headers["RateLimit-Remaining"] == "149"


def test_merge_profiles_limits_are_its_own(api: Api, minute: float) -> None:
    source = MISSING[:-1] + "J"
    assert [merge(api, MISSING, source).status for _ in range(10)] == [404] * 10
    assert merge(api, MISSING, source).status == 429
    created = api.post_profile({"email": "other-tier@example.com"})
    assert created.status == 201
    assert created.headers["RateLimit-Limit"] == "700"
