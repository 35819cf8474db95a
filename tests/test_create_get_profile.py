"""Create Profile and Get Profile over HTTP."""

from __future__ import annotations

import re

import pytest
from client import Api
from conftest import START, Live

ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def test_create_profile_201_with_the_whole_document(api: Api, live: Live) -> None:
    reply = api.post_profile({"email": "new@example.com", "first_name": "New", "properties": {"a": [1]}})
    assert reply.status == 201, reply.text
    data = reply.json()["data"]
    assert ULID.match(data["id"])
    attributes = data["attributes"]
    assert attributes["email"] == "new@example.com"
    assert attributes["first_name"] == "New"
    assert attributes["phone_number"] is None
    assert attributes["properties"] == {"a": [1]}
    assert attributes["last_event_date"] is None
    assert attributes["created"] == attributes["updated"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", attributes["created"])
    assert attributes["location"] == dict.fromkeys(
        ["address1", "address2", "city", "country", "latitude", "longitude", "region", "zip", "timezone", "ip"]
    )
    assert data["relationships"]["lists"]["data"] == []
    assert data["links"]["self"] == f"{api.url}/api/profiles/{data['id']}/"
    assert "subscriptions" not in attributes
    assert "predictive_analytics" not in attributes


def test_create_profile_timestamps_follow_the_clock(api: Api, live: Live) -> None:
    before = live.clock.time()
    live.clock.set(START + 3600 * 24)
    try:
        created = api.create_profile(email="clocked@example.com")["attributes"]["created"]
    finally:
        live.clock.set(before)
    assert created == "2026-11-17T12:00:00+00:00"


@pytest.mark.parametrize(
    "attributes",
    [{"email": "id@example.com"}, {"phone_number": "+14155552671"}, {"external_id": "ext-only"}],
    ids=["email", "phone", "external_id"],
)
def test_create_profile_any_one_identifier_suffices(api: Api, attributes: dict[str, str]) -> None:
    assert api.post_profile(attributes).status == 201


@pytest.mark.parametrize(
    "attributes",
    [{}, {"first_name": "Nobody"}, {"email": None, "first_name": "Null"}],
    ids=["empty", "no-identifier", "null-identifier"],
)
def test_create_profile_without_identifier_400(api: Api, attributes: dict[str, str | None]) -> None:
    reply = api.post_profile(attributes)
    assert reply.status == 400
    assert reply.error["code"] == "invalid"
    assert reply.error["detail"] == "One or more identifiers is required"
    assert reply.error["source"] == {"pointer": "/data/attributes"}


def test_create_profile_null_means_not_set(api: Api) -> None:
    reply = api.post_profile({"email": "nulls@example.com", "first_name": None, "location": {"city": None}})
    assert reply.status == 201
    assert reply.json()["data"]["attributes"]["first_name"] is None


def test_create_profile_anonymous_id_is_not_a_create_attribute(api: Api) -> None:
    reply = api.post_profile({"email": "anon@example.com", "anonymous_id": "a1"})
    assert reply.status == 400
    assert reply.error["source"] == {"pointer": "/data/attributes/anonymous_id"}


@pytest.mark.parametrize(
    ("field", "first", "second"),
    [
        ("email", "dup@example.com", "DUP@Example.com"),
        ("phone_number", "+14155552671", "+14155552671"),
        ("external_id", "ext-dup", "ext-dup"),
    ],
)
def test_create_profile_existing_identifier_409(api: Api, field: str, first: str, second: str) -> None:
    holder = api.create_profile(**{field: first})
    reply = api.post_profile({field: second, "first_name": "Second"})
    assert reply.status == 409
    assert reply.error["code"] == "duplicate_profile"
    assert reply.error["meta"] == {"duplicate_profile_id": holder["id"]}


def test_create_profile_duplicate_names_the_email_holder_first(api: Api) -> None:
    by_phone = api.create_profile(phone_number="+14155552671")
    by_email = api.create_profile(email="first@example.com")
    reply = api.post_profile({"phone_number": "+14155552671", "email": "first@example.com"})
    assert reply.status == 409
    assert reply.error["meta"]["duplicate_profile_id"] == by_email["id"] != by_phone["id"]


def test_create_profile_validation_errors(api: Api) -> None:
    reply = api.post_profile({"email": "bad", "phone_number": "bad"})
    assert reply.status == 400
    assert [e["source"]["pointer"] for e in reply.errors] == [
        "/data/attributes/email",
        "/data/attributes/phone_number",
    ]


def test_create_profile_ignores_meta_and_id_it_does_not_take(api: Api) -> None:
    body = {"data": {"type": "profile", "attributes": {"email": "meta@example.com"}, "meta": {"x": 1}}}
    reply = api.request("POST", "/api/profiles/", json_body=body)
    assert reply.status == 201


def test_get_profile_200(api: Api) -> None:
    created = api.create_profile(email="get@example.com", last_name="Get")
    reply = api.get_profile(created["id"])
    assert reply.status == 200
    data = reply.json()["data"]
    assert data["attributes"] == created["attributes"]
    assert "included" not in reply.json()


def test_get_profile_unknown_id_404(api: Api) -> None:
    reply = api.get_profile("01H260JDT1NJVY1EF61ET64Z7F")
    assert reply.status == 404
    assert reply.json()["errors"][0] == {
        "id": reply.error["id"],
        "status": 404,
        "code": "not_found",
        "title": "Not found.",
        "detail": "A profile with id 01H260JDT1NJVY1EF61ET64Z7F does not exist.",
        "source": {"pointer": "/data/"},
    }


def test_get_profile_sparse_fields(api: Api) -> None:
    created = api.create_profile(email="sparse@example.com", first_name="S", location={"city": "Boston"})
    reply = api.get_profile(created["id"], params={"fields[profile]": "email,location.city,properties"})
    assert reply.status == 200
    assert reply.json()["data"]["attributes"] == {
        "email": "sparse@example.com",
        "location": {"city": "Boston"},
        "properties": {},
    }


def test_get_profile_unknown_sparse_field_400(api: Api) -> None:
    created = api.create_profile(email="sparse2@example.com")
    reply = api.get_profile(created["id"], params={"fields[profile]": "email,shoe_size"})
    assert reply.status == 400
    assert reply.error["code"] == "invalid"
    assert reply.error["source"] == {"parameter": "fields[profile]"}
    assert "shoe_size" in reply.error["detail"]


def test_get_profile_additional_fields(api: Api) -> None:
    created = api.create_profile(email="extra@example.com")
    params = {"additional-fields[profile]": "subscriptions,predictive_analytics"}
    attributes = api.get_profile(created["id"], params=params).json()["data"]["attributes"]
    assert attributes["subscriptions"]["email"]["marketing"] == {
        "can_receive_email_marketing": True,
        "consent": "NEVER_SUBSCRIBED",
        "consent_timestamp": None,
        "last_updated": None,
        "method": None,
        "method_detail": None,
        "custom_method_detail": None,
        "double_optin": None,
        "suppression": [],
        "list_suppressions": [],
    }
    assert attributes["subscriptions"]["sms"] == {"marketing": None}
    assert set(attributes["predictive_analytics"]) == {
        "historic_clv",
        "predicted_clv",
        "total_clv",
        "historic_number_of_orders",
        "predicted_number_of_orders",
        "average_days_between_orders",
        "average_order_value",
        "churn_probability",
        "expected_date_of_next_order",
    }
    assert all(value is None for value in attributes["predictive_analytics"].values())


def test_get_profile_subscription_fields_select_nested_keys(api: Api) -> None:
    created = api.create_profile(email="nested@example.com")
    params = {
        "additional-fields[profile]": "subscriptions",
        "fields[profile]": "subscriptions.email.marketing.consent",
    }
    attributes = api.get_profile(created["id"], params=params).json()["data"]["attributes"]
    # The keys the schema requires of the object stay, so typed clients can read it.
    marketing = {"consent": "NEVER_SUBSCRIBED", "can_receive_email_marketing": True}
    assert attributes == {"subscriptions": {"email": {"marketing": marketing}}}


def test_get_profile_unknown_additional_field_400(api: Api) -> None:
    created = api.create_profile(email="extra2@example.com")
    reply = api.get_profile(created["id"], params={"additional-fields[profile]": "everything"})
    assert reply.status == 400
    assert reply.error["source"] == {"parameter": "additional-fields[profile]"}


def test_get_profile_include_lists_and_segments(api: Api) -> None:
    created = api.create_profile(email="include@example.com")
    reply = api.get_profile(created["id"], params={"include": "lists,segments"})
    assert reply.status == 200
    document = reply.json()
    assert document["included"] == []
    assert document["data"]["relationships"]["lists"]["data"] == []


def test_get_profile_in_2026_has_locale_and_no_trailing_slash(api: Api) -> None:
    created = api.create_profile(email="modern@example.com")
    reply = api.get_profile(created["id"], revision="2026-10-15")
    assert reply.status == 200
    data = reply.json()["data"]
    assert data["attributes"]["locale"] is None
    assert data["links"]["self"] == f"{api.url}/api/profiles/{created['id']}"
    assert data["relationships"]["lists"] == {
        "links": {
            "self": f"{api.url}/api/profiles/{created['id']}/relationships/lists",
            "related": f"{api.url}/api/profiles/{created['id']}/lists",
        }
    }
    params = {"additional-fields[profile]": "subscriptions"}
    sms = api.get_profile(created["id"], revision="2026-10-15", params=params).json()["data"]["attributes"]
    assert sms["subscriptions"]["sms"]["marketing"]["can_receive_sms_marketing"] is False
