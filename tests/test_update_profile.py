"""Update Profile (PATCH /api/profiles/{id}/) over HTTP: every behaviour of the operation."""

from __future__ import annotations

from typing import Any

import pytest
from client import Api
from conftest import Live
from examples import SARAH
from expected import ATTRIBUTE_ORDER

from localviyo.core import document


def test_update_profile_sets_every_attribute(api: Api) -> None:
    profile = api.create_profile(email="first@example.com")
    reply = api.update_profile(profile["id"], SARAH)
    assert reply.status == 200, reply.text
    document_ = reply.json()
    attributes = document_["data"]["attributes"]
    for name, value in SARAH.items():
        assert attributes[name] == value, name
    assert api.stored(profile["id"]) == attributes
    assert document_["data"]["id"] == profile["id"]
    assert document_["data"]["type"] == "profile"
    assert document_["data"]["links"]["self"] == f"{api.url}/api/profiles/{profile['id']}/"


def test_update_profile_response_shape(api: Api) -> None:
    profile = api.create_profile(email="shape@example.com")
    data = api.update_profile(profile["id"], {"first_name": "Shape"}).json()["data"]
    assert list(data["attributes"]) == ATTRIBUTE_ORDER
    assert "anonymous_id" not in data["attributes"]
    base = f"{api.url}/api/profiles/{profile['id']}"
    assert data["relationships"] == {
        "lists": {"data": [], "links": {"self": f"{base}/relationships/lists/", "related": f"{base}/lists/"}},
        "segments": {
            "data": [],
            "links": {"self": f"{base}/relationships/segments/", "related": f"{base}/segments/"},
        },
    }


def test_update_profile_null_clears_and_omitted_keeps(api: Api) -> None:
    profile = api.create_profile(**SARAH)
    attributes = api.patch(profile["id"], {"first_name": None, "title": None, "phone_number": None})
    assert attributes["first_name"] is None
    assert attributes["title"] is None
    assert attributes["phone_number"] is None
    assert attributes["last_name"] == "Mason"
    assert attributes["organization"] == "Example Corporation"
    assert attributes["email"] == SARAH["email"]
    assert attributes["location"] == SARAH["location"]
    assert attributes["properties"] == SARAH["properties"]


def test_update_profile_location_key_by_key(api: Api) -> None:
    profile = api.create_profile(**SARAH)
    attributes = api.patch(profile["id"], {"location": {"city": "Boston", "zip": None}})
    assert attributes["location"] == {**SARAH["location"], "city": "Boston", "zip": None}


def test_update_profile_location_null_clears_every_key(api: Api) -> None:
    profile = api.create_profile(**SARAH)
    attributes = api.patch(profile["id"], {"location": None})
    assert attributes["location"] == dict.fromkeys(SARAH["location"])


@pytest.mark.parametrize(
    ("latitude", "longitude"),
    [("40.7128", "-74.0060"), (40.7128, -74.006), (40, "-74"), ("0", 0)],
    ids=["strings", "numbers", "int-and-string", "zeros"],
)
def test_update_profile_coordinates_echoed_as_sent(api: Api, latitude: Any, longitude: Any) -> None:
    profile = api.create_profile(email="coords@example.com")
    attributes = api.patch(profile["id"], {"location": {"latitude": latitude, "longitude": longitude}})
    assert attributes["location"]["latitude"] == latitude
    assert type(attributes["location"]["latitude"]) is type(latitude)
    assert attributes["location"]["longitude"] == longitude
    assert type(attributes["location"]["longitude"]) is type(longitude)


def test_update_profile_properties_merge_at_top_level(api: Api) -> None:
    profile = api.create_profile(email="merge@example.com", properties={"a": 1, "nested": {"x": 1, "y": 2}})
    attributes = api.patch(profile["id"], {"properties": {"b": [1, 2], "nested": {"x": 3}}})
    assert attributes["properties"] == {"a": 1, "b": [1, 2], "nested": {"x": 3}}


def test_update_profile_properties_null_changes_nothing(api: Api) -> None:
    profile = api.create_profile(email="propnull@example.com", properties={"a": 1})
    attributes = api.patch(profile["id"], {"properties": None})
    assert attributes["properties"] == {"a": 1}


def test_append_creates_a_list(api: Api) -> None:
    profile = api.create_profile(email="append@example.com")
    assert api.patch(profile["id"], append={"skus": "92538"})["properties"] == {"skus": ["92538"]}


def test_append_extends_a_list_with_each_value(api: Api) -> None:
    profile = api.create_profile(email="append2@example.com", properties={"skus": ["1"]})
    attributes = api.patch(profile["id"], append={"skus": ["92538", "40571"]})
    assert attributes["properties"]["skus"] == ["1", "92538", "40571"]


def test_append_turns_a_scalar_into_a_list(api: Api) -> None:
    profile = api.create_profile(email="append3@example.com", properties={"color": "blue"})
    assert api.patch(profile["id"], append={"color": "red"})["properties"]["color"] == ["blue", "red"]


def test_append_keeps_duplicates(api: Api) -> None:
    profile = api.create_profile(email="append4@example.com", properties={"skus": ["1"]})
    assert api.patch(profile["id"], append={"skus": "1"})["properties"]["skus"] == ["1", "1"]


def test_unappend_removes_every_matching_value(api: Api) -> None:
    profile = api.create_profile(email="unappend@example.com", properties={"skus": ["1", "2", "1", 1, True]})
    attributes = api.patch(profile["id"], unappend={"skus": ["1", True]})
    assert attributes["properties"]["skus"] == ["2", 1]


@pytest.mark.parametrize("existing", [None, "scalar", 5], ids=["missing", "string", "number"])
def test_unappend_on_a_non_list_changes_nothing(api: Api, existing: Any) -> None:
    properties = {} if existing is None else {"k": existing}
    profile = api.create_profile(email="unappend2@example.com", properties=properties)
    assert api.patch(profile["id"], unappend={"k": "scalar"})["properties"] == properties


@pytest.mark.parametrize("unset", ["a", ["a", "missing"]], ids=["string", "list"])
def test_unset_removes_keys(api: Api, unset: Any) -> None:
    profile = api.create_profile(email="unset@example.com", properties={"a": 1, "b": 2})
    assert api.patch(profile["id"], unset=unset)["properties"] == {"b": 2}


@pytest.mark.parametrize("unset", [{"a": 1}, 5, ["a", 5], True], ids=["object", "number", "mixed-list", "bool"])
def test_unset_of_wrong_type_is_klaviyos_400(api: Api, unset: Any) -> None:
    profile = api.create_profile(email="unset2@example.com", properties={"a": 1})
    reply = api.update_profile(profile["id"], {}, {"patch_properties": {"unset": unset}})
    assert reply.status == 400
    error = reply.error
    assert set(error) == {"id", "status", "code", "title", "detail", "source", "meta"}
    assert error["status"] == 400
    assert error["code"] == "invalid"
    assert error["title"] == "Invalid input."
    assert error["detail"] == "Unset must be a string or an array of strings (the property keys to unset)."
    assert error["source"] == {"pointer": "/data/attributes/meta/patch_properties/unset"}
    assert error["meta"] == {}
    assert api.stored(profile["id"])["properties"] == {"a": 1}


def test_patch_order_properties_then_unset_append_unappend(api: Api) -> None:
    profile = api.create_profile(email="order@example.com", properties={"k": ["old"], "z": 1})
    reply = api.update_profile(
        profile["id"],
        {"properties": {"k": "set", "z": 2}},
        {"patch_properties": {"unset": ["k"], "append": {"k": ["a", "b", "c"]}, "unappend": {"k": "b"}}},
    )
    assert reply.status == 200, reply.text
    assert reply.json()["data"]["attributes"]["properties"] == {"k": ["a", "c"], "z": 2}


def test_update_profile_anonymous_id_is_write_only(api: Api) -> None:
    profile = api.create_profile(email="anon@example.com")
    reply = api.update_profile(profile["id"], {"anonymous_id": "anon-123"})
    assert reply.status == 200, reply.text
    assert "anonymous_id" not in reply.json()["data"]["attributes"]
    assert "anon-123" not in reply.text


def test_update_profile_anonymous_id_counts_as_identifier(api: Api) -> None:
    profile = api.create_profile(email="anon2@example.com")
    api.patch(profile["id"], {"anonymous_id": "anon-456"})
    attributes = api.patch(profile["id"], {"email": None})
    assert attributes["email"] is None


def test_updated_moves_only_when_something_changed(api: Api, live: Live) -> None:
    profile = api.create_profile(email="clock@example.com", first_name="A")
    created = profile["attributes"]["created"]
    live.clock.advance(5)
    same = api.patch(profile["id"], {"first_name": "A", "properties": {}}, unset="missing")
    assert same["updated"] == created
    live.clock.advance(5)
    changed = api.patch(profile["id"], {"first_name": "B"})
    assert changed["updated"] > created
    assert changed["created"] == created


def test_update_profile_unknown_id_404(api: Api) -> None:
    missing = "01GDDKASAP8TKDDA2GRZDSVP4H"
    reply = api.update_profile(missing, {"first_name": "X"})
    assert reply.status == 404
    error = reply.error
    assert error["code"] == "not_found"
    assert error["title"] == "Not found."
    assert error["detail"] == f"A profile with id {missing} does not exist."
    assert error["source"] == {"pointer": "/data/"}
    assert set(error) == {"id", "status", "code", "title", "detail", "source"}


def test_update_profile_invalid_email(api: Api) -> None:
    profile = api.create_profile(email="valid@example.com")
    for bad in ["not-an-email", "a@b", "two@@example.com", "x" * 95 + "@a.com"]:
        reply = api.update_profile(profile["id"], {"email": bad})
        assert reply.status == 400, bad
        assert reply.error["detail"] == "Invalid email address"
        assert reply.error["source"] == {"pointer": "/data/attributes/email"}
        assert reply.error["links"] == {} and reply.error["meta"] == {}
    assert api.stored(profile["id"])["email"] == "valid@example.com"


def test_update_profile_email_of_100_characters_accepted(api: Api) -> None:
    profile = api.create_profile(email="valid100@example.com")
    email = "x" * 94 + "@a.com"
    assert len(email) == 100
    assert api.patch(profile["id"], {"email": email})["email"] == email


@pytest.mark.parametrize("bad", ["5005550006", "+1 500 555 0006", "+0123456789", "+1555", "+10000000000", "phone"])
def test_update_profile_invalid_phone(api: Api, bad: str) -> None:
    profile = api.create_profile(email="phone@example.com", phone_number="+14155552671")
    reply = api.update_profile(profile["id"], {"phone_number": bad})
    assert reply.status == 400
    assert reply.error["code"] == "invalid"
    assert reply.error["detail"] == "Invalid phone number format (Example of a valid format: +12345678901)"
    assert reply.error["source"] == {"pointer": "/data/attributes/phone_number"}
    assert api.stored(profile["id"])["phone_number"] == "+14155552671"


@pytest.mark.parametrize("good", ["+15005550006", "+12345678901", "+447911123456", "+33612345678"])
def test_update_profile_valid_phones(api: Api, good: str) -> None:
    profile = api.create_profile(email=f"phone-{good[1:]}@example.com")
    assert api.patch(profile["id"], {"phone_number": good})["phone_number"] == good


def test_update_profile_several_invalid_fields_give_several_errors(api: Api) -> None:
    profile = api.create_profile(email="many@example.com")
    reply = api.update_profile(
        profile["id"],
        {"email": "bad", "phone_number": "123", "first_name": 5, "location": {"latitude": "north"}, "bogus": 1},
    )
    assert reply.status == 400
    pointers = [error["source"]["pointer"] for error in reply.errors]
    assert pointers == [
        "/data/attributes/email",
        "/data/attributes/phone_number",
        "/data/attributes/first_name",
        "/data/attributes/bogus",
        "/data/attributes/location/latitude",
    ]
    assert [error["detail"] for error in reply.errors] == [
        document.INVALID_EMAIL,
        document.INVALID_PHONE,
        document.NOT_A_STRING,
        "'bogus' is not a valid field for the resource 'profile'.",
        document.NOT_A_NUMBER,
    ]
    assert len({error["id"] for error in reply.errors}) == 5
    assert api.stored(profile["id"])["email"] == "many@example.com"


@pytest.mark.parametrize(
    ("attributes", "pointer", "detail"),
    [
        ({"location": "NYC"}, "/data/attributes/location", 'Expected a dictionary of items but got type "str".'),
        ({"properties": [1]}, "/data/attributes/properties", 'Expected a dictionary of items but got type "list".'),
        ({"location": {"city": 5}}, "/data/attributes/location/city", document.NOT_A_STRING),
        ({"location": {"longitude": True}}, "/data/attributes/location/longitude", document.NOT_A_NUMBER),
        ({"title": ["x"]}, "/data/attributes/title", document.NOT_A_STRING),
        ({"locale": "en-US"}, "/data/attributes/locale", "'locale' is not a valid field for the resource 'profile'."),
        ({"_kx": "abc"}, "/data/attributes/_kx", "'_kx' is not a valid field for the resource 'profile'."),
    ],
)
def test_update_profile_attribute_errors(api: Api, attributes: dict[str, Any], pointer: str, detail: str) -> None:
    profile = api.create_profile(email="attr@example.com")
    reply = api.update_profile(profile["id"], attributes)
    assert reply.status == 400
    assert reply.error["source"] == {"pointer": pointer}
    assert reply.error["detail"] == detail


def test_update_profile_no_identifier_left(api: Api) -> None:
    profile = api.create_profile(email="only@example.com", first_name="Only")
    reply = api.update_profile(profile["id"], {"email": None, "first_name": "Changed"})
    assert reply.status == 400
    assert reply.error["detail"] == "One or more identifiers is required"
    assert reply.error["source"] == {"pointer": "/data/attributes"}
    after = api.stored(profile["id"])
    assert after["email"] == "only@example.com"
    assert after["first_name"] == "Only"


def test_update_profile_may_swap_one_identifier_for_another(api: Api) -> None:
    profile = api.create_profile(email="swap@example.com")
    attributes = api.patch(profile["id"], {"email": None, "external_id": "ext-swap"})
    assert attributes["email"] is None
    assert attributes["external_id"] == "ext-swap"


@pytest.mark.parametrize(
    ("body", "pointer", "detail"),
    [
        ({"data": {"type": "profile", "attributes": {}}}, "/data/id", document.MISSING_ID),
        ({"data": {"id": "X", "attributes": {}}}, "/data/type", document.REQUIRED),
        ({"data": {"type": "profile", "id": "{id}"}}, "/data/attributes", document.REQUIRED),
        ({"data": []}, "/data", document.INVALID_PAYLOAD),
        ({"profile": {}}, "/data", document.INVALID_PAYLOAD),
        ([], "/data", document.INVALID_PAYLOAD),
    ],
    ids=["no-id", "no-type", "no-attributes", "data-not-object", "no-data", "not-object"],
)
def test_update_profile_document_errors(api: Api, body: Any, pointer: str, detail: str) -> None:
    profile = api.create_profile(email="doc@example.com")
    if isinstance(body, dict) and "data" in body and isinstance(body["data"], dict) and body["data"].get("id"):
        body["data"]["id"] = profile["id"]
    reply = api.request("PATCH", api.profile_path(profile["id"]), json_body=body)
    assert reply.status == 400, reply.text
    assert reply.error["code"] == "invalid"
    assert reply.error["source"] == {"pointer": pointer}
    assert reply.error["detail"] == detail


def test_update_profile_id_differs_from_path_409(api: Api) -> None:
    profile = api.create_profile(email="mismatch@example.com")
    other = "01GDDKASAP8TKDDA2GRZDSVP4H"
    body = {"data": {"type": "profile", "id": other, "attributes": {"first_name": "X"}}}
    reply = api.request("PATCH", api.profile_path(profile["id"]), json_body=body)
    assert reply.status == 409
    assert reply.error["code"] == "conflict"
    assert reply.error["title"] == "Conflict."
    assert reply.error["detail"] == document.WRONG_ID.format(got=other, expected=profile["id"])
    assert reply.error["source"] == {"pointer": "/data/id"}
    assert api.stored(profile["id"])["first_name"] is None


def test_update_profile_wrong_type_409(api: Api) -> None:
    profile = api.create_profile(email="type@example.com")
    body = {"data": {"type": "profiles", "id": profile["id"], "attributes": {}}}
    reply = api.request("PATCH", api.profile_path(profile["id"]), json_body=body)
    assert reply.status == 409
    assert reply.error["code"] == "conflict"
    assert reply.error["source"] == {"pointer": "/data/type"}
    assert reply.error["detail"] == document.WRONG_TYPE.format(got="profiles", expected="profile")


@pytest.mark.parametrize(
    ("field", "theirs", "ours"),
    [
        ("email", "Taken@Example.com", "TAKEN@example.COM"),
        ("phone_number", "+14155552671", "+14155552671"),
        ("external_id", "ext-1", "ext-1"),
    ],
)
def test_update_profile_identifier_of_another_profile_409(api: Api, field: str, theirs: str, ours: str) -> None:
    holder = api.create_profile(**{field: theirs})
    profile = api.create_profile(email="mine@example.com", first_name="Mine")
    reply = api.update_profile(profile["id"], {field: ours, "first_name": "Changed"})
    assert reply.status == 409
    assert reply.json() == {
        "errors": [
            {
                "id": reply.error["id"],
                "status": 409,
                "code": "duplicate_profile",
                "title": "Conflict.",
                "detail": "A profile already exists with one of these identifiers.",
                "source": {"pointer": "/data/attributes"},
                "links": {},
                "meta": {"duplicate_profile_id": holder["id"]},
            }
        ]
    }
    after = api.stored(profile["id"])
    assert after["first_name"] == "Mine"
    assert after[field] == ("mine@example.com" if field == "email" else None)


def test_update_profile_own_identifier_in_other_case_is_fine(api: Api) -> None:
    profile = api.create_profile(email="case@example.com")
    assert api.patch(profile["id"], {"email": "CASE@example.com"})["email"] == "CASE@example.com"


def test_update_profile_identifier_freed_by_clearing_can_be_taken(api: Api) -> None:
    first = api.create_profile(email="free@example.com", external_id="e1")
    second = api.create_profile(email="other@example.com")
    api.patch(first["id"], {"email": None})
    assert api.patch(second["id"], {"email": "free@example.com"})["email"] == "free@example.com"


def test_update_profile_empty_attributes_is_a_noop(api: Api) -> None:
    profile = api.create_profile(email="empty@example.com")
    reply = api.update_profile(profile["id"], {})
    assert reply.status == 200
    assert reply.json()["data"]["attributes"] == {**profile["attributes"]}


def test_update_profile_with_trailing_slash_and_without(api: Api) -> None:
    profile = api.create_profile(email="slash@example.com")
    body = {"data": {"type": "profile", "id": profile["id"], "attributes": {"first_name": "NoSlash"}}}
    reply = api.request("PATCH", f"/api/profiles/{profile['id']}", json_body=body)
    assert reply.status == 200
    assert reply.json()["data"]["attributes"]["first_name"] == "NoSlash"


def test_update_profile_in_a_later_revision(api: Api) -> None:
    profile = api.create_profile(email="later@example.com")
    reply = api.update_profile(
        profile["id"],
        {"locale": "en-US", "first_name": "L"},
        revision="2026-10-15",
        content_type="application/vnd.api+json",
    )
    assert reply.status == 200, reply.text
    data = reply.json()["data"]
    assert data["attributes"]["locale"] == "en-US"
    assert data["links"]["self"] == f"{api.url}/api/profiles/{profile['id']}"
    assert "data" not in data["relationships"]["lists"]
    assert set(data["relationships"]) == {"lists", "segments", "push-tokens"}
    # A 2024-02-15 reader does not see the attribute its revision does not have.
    assert "locale" not in api.stored(profile["id"])


def test_update_profile_later_revisions_have_no_anonymous_id(api: Api) -> None:
    profile = api.create_profile(email="noanon@example.com")
    reply = api.update_profile(profile["id"], {"anonymous_id": "a"}, revision="2026-10-15")
    assert reply.status == 400
    assert reply.error["source"] == {"pointer": "/data/attributes/anonymous_id"}


def test_update_profile_additional_fields_from_2024_10_15(api: Api) -> None:
    profile = api.create_profile(email="addl@example.com")
    old = api.update_profile(profile["id"], {}, params={"additional-fields[profile]": "subscriptions"})
    assert "subscriptions" not in old.json()["data"]["attributes"]
    new = api.update_profile(
        profile["id"], {}, params={"additional-fields[profile]": "subscriptions"}, revision="2024-10-15"
    )
    assert new.status == 200, new.text
    marketing = new.json()["data"]["attributes"]["subscriptions"]["email"]["marketing"]
    assert marketing["consent"] == "NEVER_SUBSCRIBED"
    assert marketing["can_receive_email_marketing"] is True
