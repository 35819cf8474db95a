"""create_or_update_profile and merge_profiles through Klaviyo's official Python SDK: 7.0.0 (revision
2024-02-15) and 25.0.0 (2026-10-15), each in its own venv (tests/sdk/harness.py), against the real server.

Both versions return only the response document from `create_or_update_profile`, the same for 201 and 200:
the caller tells a creation from an update by the id alone. 25.0.0's `..._with_http_info` exposes the
status; 7.0.0's returns an `ApiResponse` that is no model, so its status cannot come back through the
driver.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Live
from sdk.harness import SDKClient, SDKClientError, SDKError, SDKRunner

MISSING = "01GDDKASAP8TKDDA2GRZDSVP4H"


def body(attributes: dict[str, Any], profile_id: str | None = None, meta: Any = None) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "profile", "attributes": attributes}
    if profile_id is not None:
        data["id"] = profile_id
    if meta is not None:
        data["meta"] = meta
    return {"data": data}


def call(sdk: SDKClient, method: str, *args: Any) -> Any:
    """Call Profiles.<method>; skip, naming the method, when this SDK version does not have it."""
    try:
        return sdk.call("Profiles", method, *args)
    except SDKClientError as error:
        if error.type == "AttributeError" and method in error.message:
            pytest.skip(f"klaviyo-api {sdk.version} has no Profiles.{method}")
        raise


def upsert(sdk: SDKClient, attributes: dict[str, Any], profile_id: str | None = None, meta: Any = None) -> Any:
    return call(sdk, "create_or_update_profile", body(attributes, profile_id, meta))


def upserted(
    sdk: SDKClient, attributes: dict[str, Any], profile_id: str | None = None, meta: Any = None
) -> dict[str, Any]:
    data: dict[str, Any] = upsert(sdk, attributes, profile_id, meta)["data"]
    return data


def merge(sdk: SDKClient, destination: str, source: str) -> Any:
    query = {
        "data": {
            "type": "profile-merge",
            "id": destination,
            "relationships": {"profiles": {"data": [{"type": "profile", "id": source}]}},
        }
    }
    return call(sdk, "merge_profiles", query)


def get(sdk: SDKClient, profile_id: str) -> dict[str, Any]:
    data: dict[str, Any] = sdk.call("Profiles", "get_profile", profile_id)["data"]
    return data


def test_sdk_create_or_update_profile_creates_then_updates(sdk: SDKClient, runner: SDKRunner) -> None:
    created = upsert(sdk, {"email": "upsert@example.com", "first_name": "A", "last_name": "Kept"})
    created_model = runner.last_model
    updated = upsert(sdk, {"email": "UPSERT@example.com", "first_name": "B"})
    # The same kind of result for 201 and 200: a dict in 7.0.0, a PostProfileResponse in 25.0.0.
    assert runner.last_model == created_model == {"7.0.0": None, "25.0.0": "PostProfileResponse"}[runner.version]
    assert set(created) >= {"data"} and set(updated) >= {"data"}
    assert created["data"]["type"] == updated["data"]["type"] == "profile"
    assert updated["data"]["id"] == created["data"]["id"]
    assert created["data"]["attributes"]["first_name"] == "A"
    assert updated["data"]["attributes"]["first_name"] == "B"
    assert updated["data"]["attributes"]["last_name"] == "Kept"
    assert get(sdk, created["data"]["id"])["attributes"]["first_name"] == "B"


def test_sdk_create_or_update_profile_status_201_then_200(sdk: SDKClient) -> None:
    if sdk.version == "7.0.0":
        pytest.skip("klaviyo-api 7.0.0 returns only the document; its ApiResponse cannot cross the driver")
    query = body({"email": "status@example.com"})
    first = call(sdk, "create_or_update_profile_with_http_info", query)
    second = call(sdk, "create_or_update_profile_with_http_info", query)
    assert (first["status_code"], second["status_code"]) == (201, 200)
    assert first["data"]["data"]["id"] == second["data"]["data"]["id"]


def test_sdk_create_or_update_profile_by_id_and_null_clears(sdk: SDKClient) -> None:
    created = upserted(sdk, {"email": "by-id@example.com", "first_name": "First", "title": "T"})
    updated = upserted(sdk, {"first_name": None, "organization": "Org"}, profile_id=created["id"])
    assert updated["id"] == created["id"]
    assert updated["attributes"]["first_name"] is None
    assert updated["attributes"]["title"] == "T"
    assert updated["attributes"]["organization"] == "Org"
    assert updated["attributes"]["email"] == "by-id@example.com"


def test_sdk_create_or_update_profile_patch_properties(sdk: SDKClient) -> None:
    created = upserted(sdk, {"email": "patch@example.com", "properties": {"old": 1, "skus": ["1"], "color": "blue"}})
    meta = {"patch_properties": {"append": {"skus": ["2", "3"], "color": "red"}, "unset": ["old"]}}
    result = upserted(sdk, {"email": "patch@example.com"}, meta=meta)
    assert result["id"] == created["id"]
    assert result["attributes"]["properties"] == {"skus": ["1", "2", "3"], "color": ["blue", "red"]}
    meta = {"patch_properties": {"unappend": {"skus": "2"}, "unset": "color"}}
    result = upserted(sdk, {"email": "patch@example.com", "properties": {"new": True}}, meta=meta)
    assert result["attributes"]["properties"] == {"skus": ["1", "3"], "new": True}


def test_sdk_create_or_update_profile_by_write_only_identifier(sdk: SDKClient) -> None:
    field, value = ("anonymous_id", "anon-sdk") if sdk.version == "7.0.0" else ("_kx", "kx-sdk")
    created = upserted(sdk, {"email": "write-only@example.com", field: value})
    assert field not in created["attributes"]
    found = upserted(sdk, {field: value, "first_name": "Found"})
    assert found["id"] == created["id"]
    assert found["attributes"]["email"] == "write-only@example.com"


def test_sdk_create_or_update_profile_conflicting_identifiers_409(sdk: SDKClient) -> None:
    by_email = upserted(sdk, {"email": "owner@example.com"})
    by_phone = upserted(sdk, {"phone_number": "+14155552690"})
    with pytest.raises(SDKError) as raised:
        upsert(sdk, {"phone_number": "+14155552690", "email": "owner@example.com", "first_name": "X"})
    assert raised.value.status == 409
    [error] = raised.value.json()["errors"]
    assert error == {
        "id": error["id"],
        "status": 409,
        "code": "duplicate_profile",
        "title": "Conflict.",
        "detail": "A profile already exists with one of these identifiers.",
        "source": {"pointer": "/data/attributes"},
        "links": {},
        "meta": {"duplicate_profile_id": by_email["id"]},
    }
    if sdk.version == "25.0.0":
        assert raised.value.data is not None  # our error body fits 25.0.0's own error model
    assert get(sdk, by_email["id"])["attributes"]["first_name"] is None
    assert get(sdk, by_phone["id"])["attributes"]["email"] is None


def test_sdk_create_or_update_profile_errors(sdk: SDKClient) -> None:
    with pytest.raises(SDKError) as missing:
        upsert(sdk, {"first_name": "Ghost"}, profile_id=MISSING)
    assert missing.value.status == 404
    assert missing.value.json()["errors"][0]["detail"] == f"A profile with id {MISSING} does not exist."
    with pytest.raises(SDKError) as nameless:
        upsert(sdk, {"first_name": "Nameless"})
    assert nameless.value.status == 400
    assert nameless.value.json()["errors"][0]["detail"] == "One or more identifiers is required"
    with pytest.raises(SDKError) as invalid:
        upsert(sdk, {"email": "nope", "phone_number": "555"})
    assert invalid.value.status == 400
    pointers = [error["source"]["pointer"] for error in invalid.value.json()["errors"]]
    assert pointers == ["/data/attributes/email", "/data/attributes/phone_number"]


def test_sdk_merge_profiles(sdk: SDKClient, live: Live) -> None:
    destination = upserted(sdk, {"email": "dest@example.com", "first_name": "Dest", "properties": {"a": 1}})
    source = upserted(
        sdk, {"email": "src@example.com", "phone_number": "+14155552691", "last_name": "Src", "properties": {"b": 2}}
    )
    result = merge(sdk, destination["id"], source["id"])
    self_link = f"{live.url}/api/profiles/{destination['id']}" + ("/" if sdk.version == "7.0.0" else "")
    assert result["data"] == {"type": "profile", "id": destination["id"], "links": {"self": self_link}}
    attributes = get(sdk, destination["id"])["attributes"]
    assert attributes["email"] == "dest@example.com"
    assert attributes["phone_number"] == "+14155552691"
    assert attributes["first_name"] == "Dest"
    assert attributes["last_name"] == "Src"
    assert attributes["properties"] == {"a": 1, "b": 2}
    with pytest.raises(SDKError) as gone:
        get(sdk, source["id"])
    assert gone.value.status == 404
    assert upserted(sdk, {"phone_number": "+14155552691"})["id"] == destination["id"]


def test_sdk_merge_profiles_unknown_source_404(sdk: SDKClient) -> None:
    destination = upserted(sdk, {"email": "dest-404@example.com"})
    with pytest.raises(SDKError) as raised:
        merge(sdk, destination["id"], MISSING)
    assert raised.value.status == 404
    [error] = raised.value.json()["errors"]
    assert (error["code"], error["detail"]) == ("not_found", f"A profile with id {MISSING} does not exist.")
