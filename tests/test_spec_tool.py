"""Tests for the spec helper (tests/spec.py): a validator that passes everything is worse than none."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from spec import SPEC_DIR, load_spec, operation, operation_ids, spec_available, validate_response

OLD, TARGET, MAPPED, NEWEST = "2023-12-15", "2024-02-15", "2024-10-15", "2026-10-15"

PROFILE_ID = "01JAFS0VVWGJFE7QE4EJQBA5AS"

# Exactly what Klaviyo answers when an update collides with another profile's identifier.
DUPLICATE_409: dict[str, Any] = {
    "errors": [
        {
            "id": "bf03176f-c362-4731-8c90-3f5da9c30fc7",
            "status": 409,
            "code": "duplicate_profile",
            "title": "Conflict.",
            "detail": "A profile already exists with one of these identifiers.",
            "source": {"pointer": "/data/attributes"},
            "links": {},
            "meta": {"duplicate_profile_id": PROFILE_ID},
        }
    ]
}


def need(*revisions: str) -> None:
    for revision in revisions:
        if not spec_available(revision):
            pytest.skip(f"Klaviyo OpenAPI spec for {revision} not found in {SPEC_DIR} (specs are not vendored)")


def minimal_profile() -> dict[str, Any]:
    """The smallest profile document the spec's required keys allow."""
    return {
        "data": {
            "type": "profile",
            "id": PROFILE_ID,
            "attributes": {},
            "links": {"self": f"https://a.klaviyo.com/api/profiles/{PROFILE_ID}/"},
        }
    }


def full_profile() -> dict[str, Any]:
    doc = minimal_profile()
    doc["data"]["attributes"] = {
        "email": "sarah.mason@klaviyo-demo.com",
        "phone_number": None,
        "external_id": None,
        "first_name": "Sarah",
        "last_name": None,
        "organization": None,
        "title": None,
        "image": None,
        "created": "2024-02-20T10:11:12+00:00",
        "updated": "2024-02-20T10:11:12.123456+00:00",
        "last_event_date": None,
        "location": {"city": "Boston", "latitude": None, "ip": None},
        "properties": {"plan": "pro", "nested": {"any": ["thing", 1]}},
    }
    return doc


def violation(revision: str, operation_id: str, status: int, body: Any) -> str:
    with pytest.raises(AssertionError) as info:
        validate_response(revision, operation_id, status, body)
    return str(info.value)


# --- spec lookup ----------------------------------------------------------------


def test_revisions_without_a_copy_map_to_the_newest_copy_at_or_below() -> None:
    need(TARGET, "2024-05-15", NEWEST)
    assert load_spec(TARGET)["info"]["version"] == TARGET
    assert load_spec(MAPPED)["info"]["version"] == "2024-05-15"
    assert load_spec(NEWEST)["info"]["version"] == "2026-07-15"
    assert load_spec("2026-07-15.pre")["info"]["version"] == "2026-07-15"
    assert not spec_available("2021-01-01")
    with pytest.raises(ValueError):
        spec_available("v3")


def test_operation_metadata_is_read_from_the_spec() -> None:
    need(TARGET)
    op = operation(TARGET, "get_profile")
    assert (op.method, op.path) == ("GET", "/api/profiles/{id}/")
    assert op.scopes == ("profiles:read",)
    assert op.rate_limit == {"burst": "75/s", "steady": "700/m"}
    assert "additional-fields[profile]" in op.query_parameters
    assert op.request_schema is None
    update = operation(TARGET, "update_profile")
    assert update.request_schema == {"$ref": "#/components/schemas/ProfilePartialUpdateQuery"}
    assert update.success_statuses == [200]
    with pytest.raises(KeyError, match="no_such_operation"):
        operation(TARGET, "no_such_operation")


def test_operation_ids_filter_by_tag() -> None:
    need(OLD, TARGET)
    profiles = operation_ids(TARGET, "Profiles")
    for op_id in ("get_profiles", "create_profile", "get_profile", "update_profile", "merge_profiles"):
        assert op_id in profiles
    assert "create_or_update_profile" in profiles
    assert "create_or_update_profile" not in operation_ids(OLD)
    assert "get_lists" not in profiles
    assert set(profiles) < set(operation_ids(TARGET))


# --- validation, 2024-02-15 ---------------------------------------------------------


def test_valid_profiles_pass() -> None:
    need(TARGET)
    validate_response(TARGET, "get_profile", 200, minimal_profile())
    validate_response(TARGET, "get_profile", 200, full_profile())
    validate_response(TARGET, "update_profile", 200, full_profile())


def test_missing_required_key_is_named() -> None:
    need(TARGET)
    doc = minimal_profile()
    del doc["data"]["links"]
    message = violation(TARGET, "get_profile", 200, doc)
    assert "at /data: 'links' is a required property" in message


def test_wrong_type_fails() -> None:
    need(TARGET)
    doc = full_profile()
    doc["data"]["attributes"]["email"] = 42
    message = violation(TARGET, "get_profile", 200, doc)
    assert "at /data/attributes/email: 42 is not of type 'string', 'null'" in message


def test_enum_is_enforced() -> None:
    need(TARGET)
    doc = minimal_profile()
    doc["data"]["type"] = "profiles"
    assert "'profiles' is not one of ['profile']" in violation(TARGET, "get_profile", 200, doc)


@pytest.mark.parametrize(
    "field",
    [
        "email",  # plain nullable string
        "created",  # nullable date-time
        "location",  # nullable $ref
        "subscriptions",  # nullable $ref added through allOf
        "predictive_analytics",
    ],
)
def test_null_on_nullable_field_passes(field: str) -> None:
    need(TARGET)
    doc = minimal_profile()
    doc["data"]["attributes"][field] = None
    validate_response(TARGET, "get_profile", 200, doc)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("data", "type"), "at /data/type: None is not of type 'string'"),
        (("data", "attributes"), "at /data/attributes: None is not of type 'object'"),
        (("data", "links", "self"), "at /data/links/self: None is not of type 'string'"),
    ],
)
def test_null_on_non_nullable_field_fails(path: tuple[str, ...], expected: str) -> None:
    need(TARGET)
    doc = minimal_profile()
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = None
    assert expected in violation(TARGET, "get_profile", 200, doc)


def test_contents_of_a_nullable_ref_are_still_checked() -> None:
    need(TARGET)
    doc = minimal_profile()
    doc["data"]["attributes"]["location"] = {"latitude": "40.7128", "longitude": -74.006, "city": 5}
    message = violation(TARGET, "get_profile", 200, doc)
    assert "at /data/attributes/location/city: 5 is not of type 'string', 'null'" in message
    # oneOf [string, number] lets both coordinate spellings through.
    assert "/location/latitude" not in message and "/location/longitude" not in message


@pytest.mark.parametrize("value", ["2024-02-20", "2024-02-20T10:11:12", "2024-02-20 10:11:12+00:00", "yesterday"])
def test_date_time_format_is_checked(value: str) -> None:
    need(TARGET)
    doc = minimal_profile()
    doc["data"]["attributes"]["created"] = value
    assert f"at /data/attributes/created: '{value}' is not a 'date-time'" in violation(TARGET, "get_profile", 200, doc)


def test_keys_the_spec_does_not_mention_are_allowed() -> None:
    # No Klaviyo schema states additionalProperties, so extra keys are valid.
    need(TARGET)
    doc = minimal_profile()
    doc["data"]["attributes"]["favourite_colour"] = "green"
    doc["data"]["meta"] = {"anything": True}
    validate_response(TARGET, "get_profile", 200, doc)


def test_every_violation_is_listed() -> None:
    need(TARGET)
    doc = minimal_profile()
    doc["data"]["attributes"]["email"] = 1
    doc["data"]["attributes"]["updated"] = "soon"
    del doc["data"]["type"]
    message = violation(TARGET, "get_profile", 200, doc)
    assert "/data/attributes/email" in message
    assert "/data/attributes/updated" in message
    assert "'type' is a required property" in message


def test_one_of_and_nullable_enum_in_included_resources() -> None:
    need(TARGET)
    listed = {
        "type": "list",
        "id": "Y6nRLr",
        "attributes": {"name": "Newsletter", "opt_in_process": None},
        "links": {"self": "https://a.klaviyo.com/api/lists/Y6nRLr/"},
    }
    doc = minimal_profile()
    doc["included"] = [listed]
    validate_response(TARGET, "get_profile", 200, doc)
    bad = copy.deepcopy(doc)
    bad["included"][0]["attributes"]["opt_in_process"] = "triple_opt_in"
    assert "/included/0" in violation(TARGET, "get_profile", 200, bad)
    bad = copy.deepcopy(doc)
    bad["included"][0]["type"] = "tag"
    assert "/included/0" in violation(TARGET, "get_profile", 200, bad)


def test_error_documents_use_the_4xx_and_5xx_entries() -> None:
    need(TARGET)
    validate_response(TARGET, "update_profile", 409, DUPLICATE_409)
    validate_response(TARGET, "update_profile", 503, DUPLICATE_409)
    broken = copy.deepcopy(DUPLICATE_409)
    del broken["errors"][0]["detail"]
    assert "at /errors/0: 'detail' is a required property" in violation(TARGET, "update_profile", 409, broken)


def test_undeclared_status_fails() -> None:
    need(TARGET)
    assert "declares no response for status 204" in violation(TARGET, "get_profile", 204, None)


# --- validation, 2026-10-15 (answered from the 2026-07-15 copy) ----------------------


def newest_profile() -> dict[str, Any]:
    doc = full_profile()
    doc["data"]["links"]["self"] = f"https://a.klaviyo.com/api/profiles/{PROFILE_ID}"
    doc["data"]["attributes"]["locale"] = "en-US"
    doc["data"]["relationships"] = {
        name: {
            "data": [],
            "links": {
                "self": f"https://a.klaviyo.com/api/profiles/{PROFILE_ID}/relationships/{name}",
                "related": f"https://a.klaviyo.com/api/profiles/{PROFILE_ID}/{name}",
            },
        }
        for name in ("lists", "segments", "push-tokens", "conversations")
    }
    return doc


def test_newest_revision_profiles() -> None:
    need(NEWEST)
    assert operation(NEWEST, "get_profile").path == "/api/profiles/{id}"
    validate_response(NEWEST, "get_profile", 200, minimal_profile())
    validate_response(NEWEST, "get_profile", 200, newest_profile())
    nulled = newest_profile()
    nulled["data"]["attributes"]["locale"] = None
    validate_response(NEWEST, "update_profile", 200, nulled)

    wrong = newest_profile()
    wrong["data"]["attributes"]["locale"] = ["en-US"]
    assert "at /data/attributes/locale: ['en-US'] is not of type" in violation(NEWEST, "get_profile", 200, wrong)
    missing = newest_profile()
    del missing["data"]["attributes"]
    assert "'attributes' is a required property" in violation(NEWEST, "get_profile", 200, missing)
    non_null = newest_profile()
    non_null["data"]["relationships"]["push-tokens"]["data"] = None
    assert "/data/relationships/push-tokens/data" in violation(NEWEST, "get_profile", 200, non_null)


def test_newest_revision_error_document() -> None:
    need(NEWEST)
    validate_response(NEWEST, "update_profile", 409, DUPLICATE_409)
    broken = copy.deepcopy(DUPLICATE_409)
    broken["errors"][0]["code"] = 409
    assert "at /errors/0/code: 409 is not of type 'string'" in violation(NEWEST, "update_profile", 409, broken)
