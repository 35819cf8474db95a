"""End to end through Klaviyo's official Python SDK: 7.0.0 (revision 2024-02-15) and 25.0.0 (2026-10-15).

Each SDK runs in a virtual environment of its own (tests/sdk/harness.py) and talks to the real server on a
real socket. 25.0.0 parses every response into its typed models, so a response that does not fit them
fails here as SDKClientError.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import SDK_OPTIONS as OPTIONS
from conftest import Live
from sdk.harness import SDKClient, SDKError, SDKRunner


def create(sdk: SDKClient, **attributes: Any) -> dict[str, Any]:
    result: dict[str, Any] = sdk.call(
        "Profiles", "create_profile", {"data": {"type": "profile", "attributes": attributes}}
    )
    data: dict[str, Any] = result["data"]
    return data


def update(sdk: SDKClient, profile_id: str, attributes: dict[str, Any], meta: Any = None) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "profile", "id": profile_id, "attributes": attributes}
    if meta is not None:
        data["meta"] = meta
    result: dict[str, Any] = sdk.call("Profiles", "update_profile", profile_id, {"data": data})
    updated: dict[str, Any] = result["data"]["attributes"]
    return updated


def get(sdk: SDKClient, profile_id: str, **kwargs: Any) -> dict[str, Any]:
    result: dict[str, Any] = sdk.call("Profiles", "get_profile", profile_id, **kwargs)
    data: dict[str, Any] = result["data"]
    return data


def test_sdk_sends_its_revision(runner: SDKRunner) -> None:
    assert runner.revision() == {"7.0.0": "2024-02-15", "25.0.0": "2026-10-15"}[runner.version]


def test_sdk_create_and_get_profile(sdk: SDKClient) -> None:
    created = create(sdk, email="sdk@example.com", first_name="Sdk", location={"city": "Boston"})
    assert len(created["id"]) == 26
    fetched = get(sdk, created["id"])
    assert fetched["id"] == created["id"]
    assert fetched["attributes"]["email"] == "sdk@example.com"
    assert fetched["attributes"]["location"]["city"] == "Boston"


def test_sdk_get_profile_with_fields_and_additional_fields(sdk: SDKClient) -> None:
    created = create(sdk, email="fields@example.com", first_name="F")
    fetched = get(sdk, created["id"], fields_profile=["email", "first_name"])
    assert fetched["attributes"]["email"] == "fields@example.com"
    assert fetched["attributes"]["first_name"] == "F"
    assert fetched["attributes"].get("last_name") is None
    extra = get(sdk, created["id"], additional_fields_profile=["subscriptions", "predictive_analytics"])
    marketing = extra["attributes"]["subscriptions"]["email"]["marketing"]
    assert marketing["consent"] == "NEVER_SUBSCRIBED"
    assert marketing["can_receive_email_marketing"] is True
    assert extra["attributes"]["predictive_analytics"]["historic_clv"] is None


def test_sdk_update_every_attribute(sdk: SDKClient) -> None:
    created = create(sdk, email="every@example.com")
    attributes = {
        "email": "sarah.mason@klaviyo-demo.com",
        "phone_number": "+15005550006",
        "external_id": "63f64a2b-c6bf-40c7-b81f-bed08162edbe",
        "first_name": "Sarah",
        "last_name": "Mason",
        "organization": "Example Corporation",
        "title": "Regional Manager",
        "image": "https://images.pexels.com/photos/3760854/pexels-photo-3760854.jpeg",
        "location": {"address1": "89 E 42nd St", "city": "New York", "latitude": "40.7128", "longitude": 74.006},
        "properties": {"pseudonym": "Dr. Octopus"},
    }
    result = update(sdk, created["id"], attributes)
    for name, value in attributes.items():
        if name == "location":
            assert {key: result["location"][key] for key in value} == value
        else:
            assert result[name] == value, name


def test_sdk_null_clears_and_omitted_keeps(sdk: SDKClient) -> None:
    created = create(sdk, email="nulls@example.com", first_name="A", last_name="B", title="T")
    result = update(sdk, created["id"], {"first_name": None, "properties": {"k": 1}})
    assert result["first_name"] is None
    assert result["last_name"] == "B"
    assert result["title"] == "T"
    assert result["properties"] == {"k": 1}


def test_sdk_location_and_properties_merge(sdk: SDKClient) -> None:
    created = create(sdk, email="merge@example.com", location={"city": "Boston", "zip": "02110"}, properties={"a": 1})
    result = update(sdk, created["id"], {"location": {"city": "Cambridge"}, "properties": {"b": 2}})
    assert result["location"]["city"] == "Cambridge"
    assert result["location"]["zip"] == "02110"
    assert result["properties"] == {"a": 1, "b": 2}


def test_sdk_patch_properties(sdk: SDKClient) -> None:
    created = create(sdk, email="patch@example.com", properties={"old": 1, "skus": ["1"], "color": "blue"})
    meta = {"patch_properties": {"append": {"skus": ["2", "3"], "color": "red"}, "unset": ["old"]}}
    result = update(sdk, created["id"], {}, meta)
    assert result["properties"] == {"skus": ["1", "2", "3"], "color": ["blue", "red"]}
    result = update(sdk, created["id"], {}, {"patch_properties": {"unappend": {"skus": "2"}, "unset": "color"}})
    assert result["properties"] == {"skus": ["1", "3"]}


def test_sdk_duplicate_identifier_409(sdk: SDKClient) -> None:
    holder = create(sdk, email="holder@example.com")
    other = create(sdk, email="other@example.com")
    with pytest.raises(SDKError) as raised:
        update(sdk, other["id"], {"email": "HOLDER@example.com"})
    assert raised.value.status == 409
    error = raised.value.json()["errors"][0]
    assert error["code"] == "duplicate_profile"
    assert error["meta"] == {"duplicate_profile_id": holder["id"]}
    with pytest.raises(SDKError) as again:
        create(sdk, email="holder@example.com")
    assert again.value.status == 409


def test_sdk_invalid_email_and_phone_400(sdk: SDKClient, runner: SDKRunner) -> None:
    created = create(sdk, email="valid@example.com")
    with pytest.raises(SDKError) as raised:
        update(sdk, created["id"], {"email": "nope", "phone_number": "555"})
    assert raised.value.status == 400
    pointers = [error["source"]["pointer"] for error in raised.value.json()["errors"]]
    assert pointers == ["/data/attributes/email", "/data/attributes/phone_number"]
    if runner.version == "25.0.0":
        assert raised.value.data is not None  # our error body fits 25.0.0's own error model


def test_sdk_unknown_profile_404(sdk: SDKClient) -> None:
    with pytest.raises(SDKError) as raised:
        get(sdk, "01GDDKASAP8TKDDA2GRZDSVP4H")
    assert raised.value.status == 404
    assert raised.value.json()["errors"][0]["code"] == "not_found"


def test_sdk_no_identifier_left_400(sdk: SDKClient) -> None:
    created = create(sdk, email="last@example.com")
    with pytest.raises(SDKError) as raised:
        update(sdk, created["id"], {"email": None})
    assert raised.value.status == 400
    assert raised.value.json()["errors"][0]["detail"] == "One or more identifiers is required"


def test_sdk_key_without_scope_403(runner: SDKRunner, live: Live) -> None:
    _, key = live.new_account(scopes=("profiles:read",))
    sdk = runner.client(key, live.url, OPTIONS)
    with pytest.raises(SDKError) as raised:
        create(sdk, email="readonly@example.com")
    assert raised.value.status == 403
    assert raised.value.json()["errors"][0]["code"] == "permission_denied"


def test_sdk_unknown_key_401(runner: SDKRunner, live: Live) -> None:
    sdk = runner.client("pk_" + "0" * 34, live.url, OPTIONS)
    with pytest.raises(SDKError) as raised:
        get(sdk, "01GDDKASAP8TKDDA2GRZDSVP4H")
    assert raised.value.status == 401


def test_sdk_revision_specific_attributes(sdk: SDKClient, runner: SDKRunner) -> None:
    created = create(sdk, email="revision@example.com")
    if runner.version == "7.0.0":
        result = update(sdk, created["id"], {"anonymous_id": "anon-7"})
        assert "anonymous_id" not in result
        assert update(sdk, created["id"], {"email": None})["email"] is None  # anonymous_id still identifies
    else:
        assert update(sdk, created["id"], {"locale": "fr-FR"})["locale"] == "fr-FR"
        assert get(sdk, created["id"])["attributes"]["locale"] == "fr-FR"


def test_sdk_retries_a_429_fault(runner: SDKRunner, live: Live) -> None:
    """7.0.0 retries 429s without reading Retry-After; 25.0.0 waits at least Retry-After before retrying."""
    name, key = live.new_account()
    account = live.store.account_by_name(name)
    assert account is not None
    sdk = runner.client(key, live.url, {"max_retries": 3, "max_delay": 1})
    profile = create(sdk, email="retry@example.com")
    live.app.faults.add({"status": 429, "times": 2, "retry_after": 1, "account": account.id})
    started = time.monotonic()
    assert get(sdk, profile["id"])["id"] == profile["id"]
    elapsed = time.monotonic() - started
    statuses = [entry.status for entry in live.app.journal.find(account=account.id, operation="get_profile")]
    assert statuses == [429, 429, 200]
    if runner.version == "25.0.0":
        assert elapsed >= 2.0  # two waits of at least Retry-After: 1


def test_sdk_gives_up_after_max_retries(runner: SDKRunner, live: Live) -> None:
    name, key = live.new_account()
    account = live.store.account_by_name(name)
    assert account is not None
    sdk = runner.client(key, live.url, {"max_retries": 2, "max_delay": 1})
    live.app.faults.add({"status": 503, "times": 5, "account": account.id})
    with pytest.raises(SDKError) as raised:
        get(sdk, "01GDDKASAP8TKDDA2GRZDSVP4H")
    assert raised.value.status == 503
    assert raised.value.json()["errors"][0]["code"] == "service_unavailable"
    assert len(live.app.journal.find(account=account.id)) == 2
