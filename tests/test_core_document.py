"""core.document: reading create and update bodies into `Changes`, and every error on the way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from localviyo.core.document import (
    INVALID_EMAIL,
    INVALID_PAYLOAD,
    INVALID_PHONE,
    INVALID_UNSET,
    MISSING_ID,
    NO_IDENTIFIER,
    NOT_A_NUMBER,
    NOT_A_STRING,
    NOT_AN_OBJECT,
    REQUIRED,
    UNKNOWN_FIELD,
    WRONG_ID,
    WRONG_TYPE,
    Changes,
    DocumentRules,
    PatchProperties,
    parse_create,
    parse_update,
)
from localviyo.errors import APIError, Conflict, Errors, Invalid, InvalidAttribute
from localviyo.revisions import Revision

REVISION = Revision("2024-02-15")
RULES = DocumentRules()
PROFILE_ID = "01GDDKASAP8TKDDA2GRZDSVP4H"
EMAIL = "sarah.mason@klaviyo-demo.com"
PATCH_BASE = "/data/attributes/meta/patch_properties"

Problem = tuple[type[APIError], str | None, str]


def create_document(attributes: Any) -> dict[str, Any]:
    return {"data": {"type": "profile", "attributes": attributes}}


def update_document(attributes: Any, meta: Any = None, *, profile_id: Any = PROFILE_ID) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "profile", "id": profile_id, "attributes": attributes}
    if meta is not None:
        data["meta"] = meta
    return {"data": data}


def create(attributes: Any, revision: Revision = REVISION) -> Changes:
    return parse_create(create_document(attributes), revision, RULES)


def update(attributes: Any, meta: Any = None, revision: Revision = REVISION) -> Changes:
    return parse_update(update_document(attributes, meta), PROFILE_ID, revision, RULES)


def problems(call: Callable[[], object]) -> list[APIError]:
    """The errors a call raises: one APIError, or the several of an `Errors`."""
    try:
        call()
    except Errors as exc:
        assert len(exc.errors) > 1, "Errors is for several problems; one is raised alone"
        assert exc.status == exc.errors[0].status
        return exc.errors
    except APIError as exc:
        return [exc]
    pytest.fail("no error was raised")


def summary(errors: list[APIError]) -> list[Problem]:
    return [(type(error), error.pointer, error.detail) for error in errors]


def only(call: Callable[[], object]) -> APIError:
    errors = problems(call)
    assert len(errors) == 1, summary(errors)
    return errors[0]


# --- the document around the attributes -------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [None, [], "profile", {}, {"data": None}, {"data": []}, {"data": "profile"}, {"type": "profile"}],
    ids=["null", "list", "string", "no-data", "null-data", "list-data", "string-data", "data-missing"],
)
@pytest.mark.parametrize("operation", ["create", "update"])
def test_parse_payload_without_data_object_is_invalid(document: Any, operation: str) -> None:
    if operation == "create":
        error = only(lambda: parse_create(document, REVISION, RULES))
    else:
        error = only(lambda: parse_update(document, PROFILE_ID, REVISION, RULES))
    assert type(error) is Invalid
    assert (error.status, error.code) == (400, "invalid")
    assert (error.pointer, error.detail) == ("/data", INVALID_PAYLOAD)


@pytest.mark.parametrize("data", [{}, {"type": None}], ids=["absent", "null"])
def test_parse_missing_type_is_required(data: dict[str, Any]) -> None:
    error = only(lambda: parse_create({"data": {**data, "attributes": {"email": EMAIL}}}, REVISION, RULES))
    assert type(error) is Invalid
    assert (error.pointer, error.detail) == ("/data/type", REQUIRED)


@pytest.mark.parametrize("kind", ["profiles", "list", 5], ids=["plural", "other", "number"])
def test_parse_create_wrong_type_is_409_conflict(kind: Any) -> None:
    document = {"data": {"type": kind, "attributes": {"email": EMAIL}}}
    error = only(lambda: parse_create(document, REVISION, RULES))
    assert type(error) is Conflict
    assert (error.status, error.code) == (409, "conflict")
    assert error.pointer == "/data/type"
    assert error.detail == WRONG_TYPE.format(got=kind, expected="profile")


def test_parse_update_wrong_type_is_409_conflict() -> None:
    document = {"data": {"type": "profiles", "id": PROFILE_ID, "attributes": {}}}
    error = only(lambda: parse_update(document, PROFILE_ID, REVISION, RULES))
    assert type(error) is Conflict
    assert error.detail == WRONG_TYPE.format(got="profiles", expected="profile")


def test_parse_wrong_type_is_reported_before_attribute_problems() -> None:
    document = {"data": {"type": "profiles", "attributes": {"email": "bad", "nickname": "x"}}}
    assert summary(problems(lambda: parse_create(document, REVISION, RULES))) == [
        (Conflict, "/data/type", WRONG_TYPE.format(got="profiles", expected="profile"))
    ]


@pytest.mark.parametrize("data", [{"type": "profile"}, {"type": "profile", "attributes": None}], ids=["absent", "null"])
@pytest.mark.parametrize("operation", ["create", "update"])
def test_parse_missing_attributes_are_required(data: dict[str, Any], operation: str) -> None:
    if operation == "create":
        error = only(lambda: parse_create({"data": data}, REVISION, RULES))
    else:
        document = {"data": {**data, "id": PROFILE_ID}}
        error = only(lambda: parse_update(document, PROFILE_ID, REVISION, RULES))
    assert type(error) is Invalid
    assert (error.pointer, error.detail) == ("/data/attributes", REQUIRED)


@pytest.mark.parametrize(
    ("attributes", "type_name"),
    [([], "list"), ("email", "str"), (5, "int"), (True, "bool"), (1.5, "float")],
    ids=["list", "str", "int", "bool", "float"],
)
def test_parse_attributes_not_an_object(attributes: Any, type_name: str) -> None:
    error = only(lambda: create(attributes))
    assert type(error) is Invalid
    assert (error.pointer, error.detail) == ("/data/attributes", NOT_AN_OBJECT.format(type=type_name))


# --- attribute values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [5, 1.5, True, [], {}, ["a"]], ids=["int", "float", "bool", "list", "dict", "strings"]
)
@pytest.mark.parametrize("name", ["email", "phone_number", "external_id", "first_name", "title", "image"])
def test_parse_attribute_not_a_string(name: str, value: Any) -> None:
    error = only(lambda: update({name: value}))
    assert type(error) is InvalidAttribute
    assert (error.status, error.code) == (400, "invalid")
    assert (error.pointer, error.detail) == (f"/data/attributes/{name}", NOT_A_STRING)


@pytest.mark.parametrize(
    "email",
    ["plainaddress", "a@b", "a b@example.com", "a@@example.com", "@example.com", "a@example.", "", "a@example.com\n"],
    ids=["no-at", "no-dot", "space", "two-at", "no-local", "trailing-dot", "empty", "trailing-newline"],
)
def test_parse_invalid_email(email: str) -> None:
    error = only(lambda: update({"email": email}))
    assert type(error) is InvalidAttribute
    assert (error.pointer, error.detail) == ("/data/attributes/email", INVALID_EMAIL)


def test_parse_email_length_limit_is_100() -> None:
    longest = "a" * 88 + "@example.com"
    assert len(longest) == 100
    assert update({"email": longest}).attributes == {"email": longest}
    error = only(lambda: update({"email": "a" + longest}))
    assert (error.pointer, error.detail) == ("/data/attributes/email", INVALID_EMAIL)


@pytest.mark.parametrize(
    "phone",
    [
        "5005550006",
        "+1 500 555 0006",
        "+0123456789",
        "+1555",
        "+10000000000",
        "phone",
        "",
        "+15005550006\n",
        "+1\uff15\uff10\uff10\uff15\uff15\uff15\uff10\uff10\uff10\uff16",
    ],
    ids=["no-plus", "spaces", "leading-zero", "too-short", "not-a-number", "letters", "empty", "newline", "fullwidth"],
)
def test_parse_invalid_phone(phone: str) -> None:
    error = only(lambda: update({"phone_number": phone}))
    assert type(error) is InvalidAttribute
    assert (error.pointer, error.detail) == ("/data/attributes/phone_number", INVALID_PHONE)


@pytest.mark.parametrize("phone", ["+15005550006", "+12345678901", "+447911123456", "+33612345678"])
def test_parse_valid_phone_is_kept_as_sent(phone: str) -> None:
    assert update({"phone_number": phone}).attributes == {"phone_number": phone}


@pytest.mark.parametrize("name", ["nickname", "_kx", "Email", "created", "id"])
@pytest.mark.parametrize("operation", ["create", "update"])
def test_parse_unknown_attribute_is_rejected(name: str, operation: str) -> None:
    attributes = {"email": EMAIL, name: "x"}
    error = only(lambda: create(attributes) if operation == "create" else update(attributes))
    assert type(error) is InvalidAttribute
    assert error.pointer == f"/data/attributes/{name}"
    assert error.detail == UNKNOWN_FIELD.format(name=name, resource="profile")
    assert error.detail == f"'{name}' is not a valid field for the resource 'profile'."


def test_parse_unknown_attribute_is_rejected_even_when_null() -> None:
    error = only(lambda: update({"nickname": None}))
    assert error.detail == UNKNOWN_FIELD.format(name="nickname", resource="profile")


# --- location and properties ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "type_name"), [([], "list"), ("NYC", "str"), (5, "int")], ids=["list", "str", "int"]
)
def test_parse_location_not_an_object(location: Any, type_name: str) -> None:
    error = only(lambda: update({"location": location}))
    assert type(error) is InvalidAttribute
    assert error.pointer == "/data/attributes/location"
    assert error.detail == NOT_AN_OBJECT.format(type=type_name)


@pytest.mark.parametrize(
    "value",
    [True, "north", "nan", "inf", float("nan"), float("inf"), [], {}, ""],
    ids=["bool", "word", "nan-string", "inf-string", "nan", "inf", "list", "dict", "empty"],
)
@pytest.mark.parametrize("key", ["latitude", "longitude"])
def test_parse_coordinate_not_a_number(key: str, value: Any) -> None:
    error = only(lambda: update({"location": {key: value}}))
    assert type(error) is InvalidAttribute
    assert (error.pointer, error.detail) == (f"/data/attributes/location/{key}", NOT_A_NUMBER)


@pytest.mark.parametrize(
    "value", ["40.7128", "-74.0060", 40.7128, 40, 0, "0"], ids=["string", "negative", "float", "int", "zero", "0"]
)
def test_parse_coordinate_kept_as_sent(value: Any) -> None:
    location = update({"location": {"latitude": value}}).location
    assert location == {"latitude": value}
    assert type(location["latitude"]) is type(value)


@pytest.mark.parametrize("value", [5, True, ["NYC"], {"name": "NYC"}], ids=["int", "bool", "list", "dict"])
def test_parse_location_string_key_not_a_string(value: Any) -> None:
    error = only(lambda: update({"location": {"city": value}}))
    assert type(error) is InvalidAttribute
    assert (error.pointer, error.detail) == ("/data/attributes/location/city", NOT_A_STRING)


def test_parse_location_unknown_keys_are_ignored() -> None:
    changes = update({"location": {"city": "New York", "planet": "Earth", "latitud": "bad"}})
    assert changes.location == {"city": "New York"}
    assert changes.clear_location is False


@pytest.mark.parametrize(
    ("properties", "type_name"), [([], "list"), ("a", "str"), (1, "int")], ids=["list", "str", "int"]
)
def test_parse_properties_not_an_object(properties: Any, type_name: str) -> None:
    error = only(lambda: update({"properties": properties}))
    assert type(error) is InvalidAttribute
    assert error.pointer == "/data/attributes/properties"
    assert error.detail == NOT_AN_OBJECT.format(type=type_name)


def test_parse_properties_any_json_values_kept() -> None:
    properties = {"a": 1, "b": [1, "x"], "c": {"d": None}, "$source": True, "e": None}
    assert update({"properties": properties}).properties == properties


# --- several problems ---------------------------------------------------------------------------------


def test_parse_reports_every_attribute_problem_at_once() -> None:
    attributes = {
        "email": "not-an-email",
        "first_name": "Sarah",
        "phone_number": "555",
        "nickname": "Octopus",
        "last_name": 5,
        "location": {"latitude": "north", "city": 5, "zip": "10017"},
        "properties": [],
    }
    errors = problems(lambda: update(attributes))
    assert summary(errors) == [
        (InvalidAttribute, "/data/attributes/email", INVALID_EMAIL),
        (InvalidAttribute, "/data/attributes/phone_number", INVALID_PHONE),
        (InvalidAttribute, "/data/attributes/nickname", UNKNOWN_FIELD.format(name="nickname", resource="profile")),
        (InvalidAttribute, "/data/attributes/last_name", NOT_A_STRING),
        (InvalidAttribute, "/data/attributes/location/latitude", NOT_A_NUMBER),
        (InvalidAttribute, "/data/attributes/location/city", NOT_A_STRING),
        (InvalidAttribute, "/data/attributes/properties", NOT_AN_OBJECT.format(type="list")),
    ]
    assert all((error.status, error.code) == (400, "invalid") for error in errors)


def test_parse_update_reports_attribute_and_patch_properties_problems_together() -> None:
    # The module promises to collect every problem in the document; attributes and meta are siblings.
    errors = problems(lambda: update({"email": "bad"}, {"patch_properties": {"unset": {"a": 1}}}))
    assert summary(errors) == [
        (InvalidAttribute, "/data/attributes/email", INVALID_EMAIL),
        (Invalid, f"{PATCH_BASE}/unset", INVALID_UNSET),
    ]


# --- create -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attributes",
    [
        {},
        {"first_name": "Nobody"},
        {"email": None, "phone_number": None, "external_id": None, "first_name": "Null"},
        {"external_id": ""},
        {"properties": {"email": EMAIL}},
    ],
    ids=["empty", "no-identifier", "null-identifiers", "empty-external-id", "identifier-in-properties"],
)
def test_parse_create_without_identifier(attributes: dict[str, Any]) -> None:
    error = only(lambda: create(attributes))
    assert type(error) is Invalid
    assert (error.status, error.code) == (400, "invalid")
    assert (error.pointer, error.detail) == ("/data/attributes", NO_IDENTIFIER)


@pytest.mark.parametrize(
    "attributes",
    [{"email": EMAIL}, {"phone_number": "+15005550006"}, {"external_id": "ext-1"}],
    ids=["email", "phone", "external_id"],
)
def test_parse_create_one_identifier_suffices(attributes: dict[str, str]) -> None:
    assert create(attributes).attributes == attributes


def test_parse_create_null_means_not_set() -> None:
    changes = create(
        {
            "email": EMAIL,
            "phone_number": None,
            "first_name": None,
            "last_name": "Mason",
            "location": {"city": None, "zip": "10017", "latitude": None},
            "properties": None,
        }
    )
    assert changes.attributes == {"email": EMAIL, "last_name": "Mason"}
    assert changes.location == {"zip": "10017"}
    assert changes.properties == {}


def test_parse_create_keeps_every_attribute() -> None:
    attributes = {
        "email": EMAIL,
        "phone_number": "+15005550006",
        "external_id": "63f64a2b",
        "first_name": "Sarah",
        "last_name": "Mason",
        "organization": "Example Corporation",
        "title": "Regional Manager",
        "image": "https://example.com/sarah.jpg",
    }
    location = {"city": "New York", "latitude": "40.7128", "longitude": -74.006}
    changes = create({**attributes, "location": location, "properties": {"pseudonym": "Dr. Octopus"}})
    assert changes.attributes == attributes
    assert changes.location == location
    assert changes.properties == {"pseudonym": "Dr. Octopus"}
    assert changes.patch == PatchProperties()


@pytest.mark.parametrize("revision", ["2024-02-15", "2025-07-15", "2026-07-15"])
def test_parse_create_rejects_anonymous_id_at_every_revision(revision: str) -> None:
    error = only(lambda: create({"email": EMAIL, "anonymous_id": "anon-1"}, Revision(revision)))
    assert error.pointer == "/data/attributes/anonymous_id"
    assert error.detail == UNKNOWN_FIELD.format(name="anonymous_id", resource="profile")


def test_parse_create_ignores_meta() -> None:
    document = create_document({"email": EMAIL})
    document["data"]["meta"] = {"patch_properties": {"unset": {"bad": 1}, "append": {"a": 1}}}
    assert parse_create(document, REVISION, RULES).patch == PatchProperties()


def test_parse_create_attribute_problem_wins_over_missing_identifier() -> None:
    assert summary(problems(lambda: create({"email": "bad"}))) == [
        (InvalidAttribute, "/data/attributes/email", INVALID_EMAIL)
    ]


# --- update -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile_id", [None, "absent"], ids=["null", "absent"])
def test_parse_update_missing_id(profile_id: str | None) -> None:
    document = update_document({"first_name": "x"}, profile_id=profile_id)
    if profile_id == "absent":
        del document["data"]["id"]
    error = only(lambda: parse_update(document, PROFILE_ID, REVISION, RULES))
    assert type(error) is Invalid
    assert (error.status, error.code) == (400, "invalid")
    assert (error.pointer, error.detail) == ("/data/id", MISSING_ID)


@pytest.mark.parametrize("got", ["01H5J755QGM2XPH7WW8K2EYZX3", PROFILE_ID.lower(), 5], ids=["other", "lower", "int"])
def test_parse_update_id_mismatch_is_409_conflict(got: Any) -> None:
    document = update_document({"email": "bad"}, profile_id=got)
    error = only(lambda: parse_update(document, PROFILE_ID, REVISION, RULES))
    assert type(error) is Conflict
    assert (error.status, error.code) == (409, "conflict")
    assert error.pointer == "/data/id"
    assert error.detail == WRONG_ID.format(got=got, expected=PROFILE_ID)


def test_parse_update_empty_attributes_change_nothing() -> None:
    assert update({}) == Changes()


def test_parse_update_null_clears_and_absent_keeps() -> None:
    changes = update({"first_name": None, "last_name": "Mason", "email": None, "location": {"city": None, "zip": "1"}})
    assert changes.attributes == {"first_name": None, "last_name": "Mason", "email": None}
    assert changes.location == {"city": None, "zip": "1"}
    assert changes.clear_location is False


def test_parse_update_null_location_clears_the_whole_location() -> None:
    changes = update({"location": None})
    assert changes.clear_location is True
    assert changes.location == {}


def test_parse_update_null_properties_change_nothing() -> None:
    changes = update({"properties": None})
    assert changes.properties == {}
    assert changes.patch == PatchProperties()


def test_parse_update_needs_no_identifier() -> None:
    assert update({"first_name": "Sarah"}).attributes == {"first_name": "Sarah"}


# --- revision-dependent attributes --------------------------------------------------------------------


@pytest.mark.parametrize("revision", ["2024-02-15", "2024-06-15"])
@pytest.mark.parametrize("operation", ["create", "update"])
def test_parse_locale_unknown_before_2024_07_15(revision: str, operation: str) -> None:
    attributes = {"email": EMAIL, "locale": "en-US"}
    rev = Revision(revision)
    error = only(lambda: create(attributes, rev) if operation == "create" else update(attributes, None, rev))
    assert (error.pointer, error.detail) == (
        "/data/attributes/locale",
        UNKNOWN_FIELD.format(name="locale", resource="profile"),
    )


@pytest.mark.parametrize("revision", ["2024-07-15", "2025-10-15"])
def test_parse_locale_accepted_from_2024_07_15(revision: str) -> None:
    rev = Revision(revision)
    assert create({"email": EMAIL, "locale": "en-US"}, rev).attributes == {"email": EMAIL, "locale": "en-US"}
    assert update({"locale": None}, None, rev).attributes == {"locale": None}


@pytest.mark.parametrize("revision", ["2024-02-15", "2025-07-15"])
def test_parse_update_anonymous_id_accepted_before_2025_10_15(revision: str) -> None:
    assert update({"anonymous_id": "anon-1"}, None, Revision(revision)).attributes == {"anonymous_id": "anon-1"}


@pytest.mark.parametrize("revision", ["2025-10-15", "2026-07-15"])
def test_parse_update_anonymous_id_gone_from_2025_10_15(revision: str) -> None:
    error = only(lambda: update({"anonymous_id": "anon-1"}, None, Revision(revision)))
    assert (error.pointer, error.detail) == (
        "/data/attributes/anonymous_id",
        UNKNOWN_FIELD.format(name="anonymous_id", resource="profile"),
    )


# --- meta.patch_properties ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unset", "keys"),
    [("a", ["a"]), (["a", "b"], ["a", "b"]), ([], []), (None, [])],
    ids=["string", "list", "empty-list", "null"],
)
def test_parse_unset(unset: Any, keys: list[str]) -> None:
    assert update({}, {"patch_properties": {"unset": unset}}).patch == PatchProperties(unset=keys)


@pytest.mark.parametrize(
    "unset",
    [{"a": 1}, {}, 5, True, ["a", 5], [["a"]], [None]],
    ids=["object", "empty-object", "int", "bool", "mixed", "nested", "null-item"],
)
def test_parse_unset_of_wrong_type(unset: Any) -> None:
    error = only(lambda: update({}, {"patch_properties": {"unset": unset}}))
    assert type(error) is Invalid
    assert (error.status, error.code) == (400, "invalid")
    assert (error.pointer, error.detail) == (f"{PATCH_BASE}/unset", INVALID_UNSET)


def test_parse_append_and_unappend() -> None:
    meta = {"patch_properties": {"append": {"skus": "92538", "tags": ["a", "b"]}, "unappend": {"skus": ["40571"]}}}
    assert update({}, meta).patch == PatchProperties(
        append={"skus": "92538", "tags": ["a", "b"]}, unappend={"skus": ["40571"]}
    )


@pytest.mark.parametrize(
    ("value", "type_name"),
    [([], "list"), ("skus", "str"), (1, "int"), (False, "bool")],
    ids=["list", "str", "int", "bool"],
)
@pytest.mark.parametrize("member", ["append", "unappend"])
def test_parse_append_members_must_be_objects(member: str, value: Any, type_name: str) -> None:
    error = only(lambda: update({}, {"patch_properties": {member: value}}))
    assert type(error) is InvalidAttribute
    assert (error.pointer, error.detail) == (f"{PATCH_BASE}/{member}", NOT_AN_OBJECT.format(type=type_name))


def test_parse_every_patch_properties_problem_at_once() -> None:
    errors = problems(lambda: update({}, {"patch_properties": {"append": [], "unappend": "x", "unset": 5}}))
    assert summary(errors) == [
        (InvalidAttribute, f"{PATCH_BASE}/append", NOT_AN_OBJECT.format(type="list")),
        (InvalidAttribute, f"{PATCH_BASE}/unappend", NOT_AN_OBJECT.format(type="str")),
        (Invalid, f"{PATCH_BASE}/unset", INVALID_UNSET),
    ]


@pytest.mark.parametrize(
    ("meta", "pointer", "type_name"),
    [
        ([], "/data/meta", "list"),
        ("patch", "/data/meta", "str"),
        ({"patch_properties": []}, "/data/meta/patch_properties", "list"),
        ({"patch_properties": 1}, "/data/meta/patch_properties", "int"),
    ],
    ids=["meta-list", "meta-str", "patch-list", "patch-int"],
)
def test_parse_meta_and_patch_properties_must_be_objects(meta: Any, pointer: str, type_name: str) -> None:
    error = only(lambda: update({}, meta))
    assert type(error) is InvalidAttribute
    assert (error.pointer, error.detail) == (pointer, NOT_AN_OBJECT.format(type=type_name))


@pytest.mark.parametrize(
    "meta",
    [{}, {"patch_properties": None}, {"patch_properties": {}}, {"patch_properties": {"append": None, "unset": None}}],
    ids=["empty-meta", "null-patch", "empty-patch", "null-members"],
)
def test_parse_empty_patch_properties_change_nothing(meta: dict[str, Any]) -> None:
    assert update({}, meta).patch == PatchProperties()


# --- DocumentRules ------------------------------------------------------------------------------------


def test_parse_rules_400_turns_wrong_type_into_invalid() -> None:
    rules = DocumentRules(mismatch_status=400)
    for call in (
        lambda: parse_create({"data": {"type": "profiles", "attributes": {"email": EMAIL}}}, REVISION, rules),
        lambda: parse_update(
            {"data": {"type": "profiles", "id": PROFILE_ID, "attributes": {}}}, PROFILE_ID, REVISION, rules
        ),
    ):
        error = only(call)
        assert type(error) is Invalid
        assert (error.status, error.code) == (400, "invalid")
        assert (error.pointer, error.detail) == ("/data/type", WRONG_TYPE.format(got="profiles", expected="profile"))


def test_parse_rules_400_turns_id_mismatch_into_invalid() -> None:
    other = "01H5J755QGM2XPH7WW8K2EYZX3"
    document = update_document({}, profile_id=other)
    error = only(lambda: parse_update(document, PROFILE_ID, REVISION, DocumentRules(mismatch_status=400)))
    assert type(error) is Invalid
    assert (error.status, error.code) == (400, "invalid")
    assert (error.pointer, error.detail) == ("/data/id", WRONG_ID.format(got=other, expected=PROFILE_ID))


def test_parse_rules_default_is_409() -> None:
    assert DocumentRules().mismatch_status == 409
