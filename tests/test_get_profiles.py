"""Get Profiles (GET /api/profiles/) over HTTP: pages, sorts, links, sparse fields, filters, cursors, tiers."""

from __future__ import annotations

import base64
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from client import Api, Reply, check_against_spec
from conftest import START, Live

from localviyo import ManualClock, Settings, accounts, create_app
from localviyo.clock import Ids
from localviyo.core.listing import SORTS, Sort, position
from localviyo.core.profile import Profile
from localviyo.storage import Store, open_store
from localviyo.testing import ServerThread

PROFILES_PATH = "/api/profiles/"
NEW_REVISION = "2026-10-15"


def listing(api: Api, params: dict[str, str] | None = None, **options: Any) -> Reply:
    path = PROFILES_PATH if api.trailing_slash(options.get("revision")) else "/api/profiles"
    return api.request("GET", path, params=params, **options)


def page(api: Api, params: dict[str, str] | None = None, **options: Any) -> dict[str, Any]:
    reply = listing(api, params, **options)
    assert reply.status == 200, reply.text
    document: dict[str, Any] = reply.json()
    return document


def ids(document: dict[str, Any]) -> list[str]:
    return [item["id"] for item in document["data"]]


def follow(api: Api, link: str, **options: Any) -> Reply:
    """Request a link of a response as it stands (checked against the spec like any other request)."""
    assert link.startswith(api.url + "/api/profiles"), link
    parts = urlsplit(link)
    return api.request("GET", parts.path, params=dict(parse_qsl(parts.query, keep_blank_values=True)), **options)


def followed(api: Api, link: str, **options: Any) -> dict[str, Any]:
    reply = follow(api, link, **options)
    assert reply.status == 200, reply.text
    document: dict[str, Any] = reply.json()
    return document


def walk(api: Api, live: Live, params: dict[str, str], **options: Any) -> list[dict[str, Any]]:
    """Every page from the first, following links.next; the clock moves a second per request (burst limit)."""
    pages = [page(api, params, **options)]
    while pages[-1]["links"]["next"] is not None:
        live.clock.advance(1)
        pages.append(followed(api, pages[-1]["links"]["next"], **options))
        assert len(pages) < 200
    live.clock.advance(1)
    return pages


def whole_second(live: Live) -> None:
    """Move the clock forward to a whole second, so that `created` shows exactly what is stored."""
    now = live.clock.time()
    live.clock.set(math.floor(now) + 1)


def make(api: Api, live: Live, count: int, **attributes: Any) -> list[dict[str, Any]]:
    """`count` profiles one second apart, emails p0@… in id order."""
    whole_second(live)
    made = []
    for i in range(count):
        made.append(api.create_profile(email=f"p{i}@example.com", **attributes))
        live.clock.advance(1)
    return made


def error_of(reply: Reply, parameter: str) -> dict[str, Any]:
    assert reply.status == 400, reply.text
    error = reply.error
    assert error["code"] == "invalid"
    assert error["status"] == 400
    assert error["source"] == {"parameter": parameter}
    return error


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def moment(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def unchecked(api: Api, link: str) -> dict[str, Any]:
    """Follow a link without checking the (large) answer against the spec: for bulk walks only."""
    assert link.startswith(api.url + "/api/profiles"), link
    headers = {"Authorization": f"Klaviyo-API-Key {api.key}", "revision": api.revision, "Accept": "application/json"}
    response = api.http.get(link, headers=headers)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


# --- pages ---------------------------------------------------------------------------------------------


def test_get_profiles_empty_account_explicit_nulls(api: Api) -> None:
    document = page(api)
    assert document["data"] == []
    assert document["links"] == {"self": api.url + PROFILES_PATH, "next": None, "prev": None}
    assert "meta" not in document


def test_get_profiles_default_page_of_20_by_id(api: Api, live: Live) -> None:
    made = make(api, live, 25)
    first = page(api)
    assert ids(first) == sorted(profile["id"] for profile in made)[:20]
    assert first["links"]["prev"] is None
    assert first["links"]["next"] is not None
    second = followed(api, first["links"]["next"])
    assert ids(second) == sorted(profile["id"] for profile in made)[20:]
    assert second["links"]["next"] is None
    assert second["links"]["prev"] is not None


def test_get_profiles_items_are_profile_resources(api: Api) -> None:
    created = api.create_profile(email="item@example.com", first_name="Item", location={"city": "Boston"})
    item = page(api)["data"][0]
    assert item["type"] == "profile"
    assert item["id"] == created["id"]
    assert item["attributes"] == created["attributes"]
    assert item["links"] == {"self": f"{api.url}/api/profiles/{created['id']}/"}
    assert item["relationships"]["lists"] == {
        "links": {
            "self": f"{api.url}/api/profiles/{created['id']}/relationships/lists/",
            "related": f"{api.url}/api/profiles/{created['id']}/lists/",
        }
    }
    assert "subscriptions" not in item["attributes"]
    assert "predictive_analytics" not in item["attributes"]


@pytest.mark.parametrize("size", [1, 2, 7, 100])
def test_get_profiles_page_size(api: Api, live: Live, size: int) -> None:
    made = make(api, live, 8)
    pages = walk(api, live, {"page[size]": str(size)})
    assert [len(ids(document)) for document in pages[:-1]] == [size] * (len(pages) - 1)
    assert [profile_id for document in pages for profile_id in ids(document)] == sorted(p["id"] for p in made)
    assert len(pages) == math.ceil(8 / size)


@pytest.mark.parametrize("size", ["0", "101", "x", "-1", "1.5", "", " 5x", "1000"])
def test_get_profiles_bad_page_size_400(api: Api, size: str) -> None:
    error = error_of(listing(api, {"page[size]": size}), "page[size]")
    assert error["title"] == "Invalid input."
    assert "page[size]" in error["detail"]


# --- sorting -------------------------------------------------------------------------------------------


def _sort_key(sort: str) -> Any:
    field = sort.removeprefix("-")

    def key(item: dict[str, Any]) -> tuple[Any, str]:
        attributes = item["attributes"]
        if field == "id":
            return (item["id"], item["id"])
        if field == "email":
            return ((attributes["email"] or "").lower(), item["id"])
        if field in ("created", "updated"):
            return (moment(attributes[field]), item["id"])
        return (0, item["id"])  # no profile has a suppression: the order falls to the id

    return key


@pytest.mark.parametrize("sort", SORTS)
def test_get_profiles_every_sort_orders_and_pages(api: Api, live: Live, sort: str) -> None:
    whole_second(live)
    made = [
        api.create_profile(email="bob@example.com"),
        api.create_profile(email="Alice@example.com"),
    ]
    live.clock.advance(3)
    made.append(api.create_profile(phone_number="+15005550006"))  # no email: sorts as ""
    made.append(api.create_profile(email="ALBERT@example.com"))
    live.clock.advance(2)
    made.append(api.create_profile(email="carol@example.com"))
    live.clock.advance(5)
    api.patch(made[0]["id"], {"first_name": "Bob"})  # updated moves on, created stays
    expected = sorted(page(api)["data"], key=_sort_key(sort), reverse=sort.startswith("-"))
    assert len(expected) == 5

    document = page(api, {"sort": sort})
    assert ids(document) == [item["id"] for item in expected]
    pages = walk(api, live, {"sort": sort, "page[size]": "2"})
    assert [profile_id for document in pages for profile_id in ids(document)] == [item["id"] for item in expected]
    for document in pages[:-1]:
        assert dict(parse_qsl(urlsplit(document["links"]["next"]).query))["sort"] == sort


def test_get_profiles_sort_by_email_is_case_insensitive(api: Api) -> None:
    for email in ["b@example.com", "A@example.com", "c@example.com", "B2@example.com"]:
        api.create_profile(email=email)
    emails = [item["attributes"]["email"] for item in page(api, {"sort": "email"})["data"]]
    assert emails == ["A@example.com", "B2@example.com", "b@example.com", "c@example.com"]  # "2" < "@"
    emails = [item["attributes"]["email"] for item in page(api, {"sort": "-email"})["data"]]
    assert emails == ["c@example.com", "b@example.com", "B2@example.com", "A@example.com"]


@pytest.mark.parametrize("sort", ["first_name", "-", "+id", "ID", "id,email", "joined_group_at"])
def test_get_profiles_bad_sort_400(api: Api, sort: str) -> None:
    error = error_of(listing(api, {"sort": sort}), "sort")
    assert sort in error["detail"]


# --- links ---------------------------------------------------------------------------------------------


def test_get_profiles_links_are_full_urls_that_work(api: Api, live: Live) -> None:
    made = sorted(profile["id"] for profile in make(api, live, 5))
    first = page(api, {"page[size]": "2"})
    links = first["links"]
    assert set(links) == {"self", "next", "prev"}
    assert links["self"] == f"{api.url}/api/profiles/?page%5Bsize%5D=2"
    assert links["prev"] is None
    assert links["next"].startswith(f"{api.url}/api/profiles/?page%5Bsize%5D=2&page%5Bcursor%5D=")
    assert ids(followed(api, links["self"])) == made[:2]

    second = followed(api, links["next"])
    assert ids(second) == made[2:4]
    assert second["links"]["self"].startswith(f"{api.url}/api/profiles/?")
    assert ids(followed(api, second["links"]["self"])) == made[2:4]
    assert ids(followed(api, second["links"]["prev"])) == made[:2]

    third = followed(api, second["links"]["next"])
    assert ids(third) == made[4:]
    assert third["links"]["next"] is None
    back = followed(api, third["links"]["prev"])
    assert ids(back) == made[2:4]
    assert back["links"]["next"] is not None
    assert ids(followed(api, back["links"]["next"])) == made[4:]
    before = followed(api, back["links"]["prev"])
    assert ids(before) == made[:2]
    assert before["links"]["prev"] is None  # back at the start


def test_get_profiles_links_keep_the_other_parameters(api: Api, live: Live) -> None:
    made = make(api, live, 6, first_name="Kept")
    wanted = sorted(profile["id"] for profile in made if profile["attributes"]["email"] != "p3@example.com")
    params = {
        "filter": 'not(equals(email,"p3@example.com"))',
        "sort": "-created",
        "page[size]": "2",
        "fields[profile]": "email,first_name",
    }
    pages = walk(api, live, params)
    assert [profile_id for document in pages for profile_id in ids(document)] == wanted[::-1]
    for document in pages:
        for item in document["data"]:
            assert item["attributes"] == {"email": item["attributes"]["email"], "first_name": "Kept"}
    query = dict(parse_qsl(urlsplit(pages[0]["links"]["next"]).query))
    assert {name: query[name] for name in params} == params


def test_get_profiles_new_revision_links_have_no_trailing_slash(api: Api, live: Live) -> None:
    made = sorted(profile["id"] for profile in make(api, live, 3))
    first = page(api, {"page[size]": "2"}, revision=NEW_REVISION)
    assert first["links"]["self"] == f"{api.url}/api/profiles?page%5Bsize%5D=2"
    assert first["links"]["next"].startswith(f"{api.url}/api/profiles?page%5Bsize%5D=2&page%5Bcursor%5D=")
    assert first["data"][0]["links"]["self"] == f"{api.url}/api/profiles/{made[0]}"
    assert first["data"][0]["relationships"]["lists"]["links"]["related"] == f"{api.url}/api/profiles/{made[0]}/lists"
    assert "locale" in first["data"][0]["attributes"]
    second = followed(api, first["links"]["next"], revision=NEW_REVISION)
    assert ids(second) == made[2:]
    assert second["links"]["prev"].startswith(f"{api.url}/api/profiles?")
    # the old revision keeps its slash even when the path has none
    old = api.request("GET", "/api/profiles", params={"page[size]": "2"})
    assert old.json()["links"]["next"].startswith(f"{api.url}/api/profiles/?")


# --- sparse fieldsets and additional fields ------------------------------------------------------------


def test_get_profiles_fields_profile(api: Api) -> None:
    api.create_profile(
        email="fields@example.com", first_name="F", last_name="L", location={"city": "Boston", "zip": "02110"}
    )
    item = page(api, {"fields[profile]": "email,first_name"})["data"][0]
    assert item["attributes"] == {"email": "fields@example.com", "first_name": "F"}
    item = page(api, {"fields[profile]": "location.city,last_name"})["data"][0]
    assert item["attributes"] == {"location": {"city": "Boston"}, "last_name": "L"}
    item = page(api, {"fields[profile]": "location"})["data"][0]
    assert item["attributes"]["location"]["zip"] == "02110"
    assert set(item["attributes"]) == {"location"}


def test_get_profiles_fields_profile_with_additional_fields(api: Api) -> None:
    api.create_profile(email="nested@example.com")
    params = {
        "additional-fields[profile]": "subscriptions,predictive_analytics",
        "fields[profile]": "email,subscriptions.email.marketing.consent,predictive_analytics.historic_clv",
    }
    attributes = page(api, params)["data"][0]["attributes"]
    assert attributes["email"] == "nested@example.com"
    assert attributes["subscriptions"]["email"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"
    assert "sms" not in attributes["subscriptions"]
    assert attributes["predictive_analytics"] == {"historic_clv": None}


@pytest.mark.parametrize("fields", ["nope", "email,nope", "anonymous_id", "location.nowhere", "_kx", "id"])
def test_get_profiles_unknown_fields_400(api: Api, fields: str) -> None:
    error = error_of(listing(api, {"fields[profile]": fields}), "fields[profile]")
    assert fields.split(",")[-1] in error["detail"]


def test_get_profiles_additional_fields(api: Api) -> None:
    api.create_profile(email="extra@example.com")
    plain = page(api)["data"][0]["attributes"]
    assert "subscriptions" not in plain and "predictive_analytics" not in plain
    attributes = page(api, {"additional-fields[profile]": "subscriptions"})["data"][0]["attributes"]
    assert attributes["subscriptions"]["email"]["marketing"]["can_receive_email_marketing"] is True
    assert "predictive_analytics" not in attributes
    attributes = page(api, {"additional-fields[profile]": "predictive_analytics"})["data"][0]["attributes"]
    assert set(attributes["predictive_analytics"]) >= {"historic_clv", "churn_probability"}
    assert "subscriptions" not in attributes
    both = page(api, {"additional-fields[profile]": "subscriptions,predictive_analytics"})["data"][0]
    assert {"subscriptions", "predictive_analytics"} <= set(both["attributes"])
    error_of(listing(api, {"additional-fields[profile]": "lists"}), "additional-fields[profile]")


# --- filters -------------------------------------------------------------------------------------------


def _filtered(api: Api, text: str, **params: str) -> list[str]:
    return ids(page(api, {"filter": text, **params}))


def test_get_profiles_filter_on_identifiers(api: Api) -> None:
    sarah = api.create_profile(
        email="Sarah.Mason@Klaviyo-Demo.com", phone_number="+15005550006", external_id="63f64a2b-c6bf"
    )["id"]
    other = api.create_profile(email="other@example.com", phone_number="+15005550007", external_id="ext,2")["id"]
    third = api.create_profile(email="third@example.com")["id"]
    assert _filtered(api, 'equals(email,"sarah.mason@klaviyo-demo.com")') == [sarah]
    assert _filtered(api, "equals(email,'SARAH.MASON@KLAVIYO-DEMO.COM')") == [sarah]
    assert _filtered(api, 'any(email,["OTHER@example.com","sarah.mason@klaviyo-demo.com","x@y.z"])') == sorted(
        [sarah, other]
    )
    assert _filtered(api, "any(email,['third@example.com'])") == [third]
    assert _filtered(api, 'equals(phone_number,"+15005550006")') == [sarah]
    assert _filtered(api, 'any(phone_number,["+15005550006","+15005550007"])') == sorted([sarah, other])
    assert _filtered(api, 'equals(external_id,"ext,2")') == [other]
    assert _filtered(api, 'equals(external_id,"63F64A2B-C6BF")') == []  # only email ignores case
    assert _filtered(api, 'any(external_id,["63f64a2b-c6bf","ext,2"])') == sorted([sarah, other])
    assert _filtered(api, f'equals(id,"{third}")') == [third]
    assert _filtered(api, f'any(id,["{third}","{sarah}","01GDDKASAP8TKDDA2GRZDSVP4H"])') == sorted([sarah, third])
    assert _filtered(api, 'equals(email,"nobody@example.com")') == []
    assert _filtered(api, 'not(equals(email,"other@example.com"))') == sorted([sarah, third])
    assert _filtered(api, 'equals(email,"other@example.com"),equals(phone_number,"+15005550006")') == []
    assert _filtered(api, 'or(equals(email,"other@example.com"),equals(phone_number,"+15005550006"))') == sorted(
        [sarah, other]
    )


def test_get_profiles_filter_on_kx(api: Api) -> None:
    body = {"data": {"type": "profile", "attributes": {"email": "kx@example.com", "_kx": "kx-token-1"}}}
    imported = api.request("POST", "/api/profile-import/", json_body=body)
    assert imported.status == 201, imported.text
    api.create_profile(email="plain@example.com")
    assert _filtered(api, 'equals(_kx,"kx-token-1")') == [imported.json()["data"]["id"]]
    assert _filtered(api, 'equals(_kx,"kx-token-2")') == []
    item = page(api, {"filter": 'equals(_kx,"kx-token-1")'})["data"][0]
    assert "_kx" not in item["attributes"] and "kx" not in item["attributes"]


def test_get_profiles_filter_on_created_and_updated(api: Api, live: Live) -> None:
    made = make(api, live, 4)  # created t0, t0+1, t0+2, t0+3
    times = [moment(profile["attributes"]["created"]) for profile in made]
    assert times == [times[0] + i for i in range(4)]
    profile_ids = [profile["id"] for profile in made]
    live.clock.advance(100)
    api.patch(profile_ids[1], {"first_name": "Later"})
    changed = moment(page(api, {"filter": f'equals(id,"{profile_ids[1]}")'})["data"][0]["attributes"]["updated"])
    assert changed == times[0] + 104

    assert _filtered(api, f"greater-than(created,{iso(times[1])})") == profile_ids[2:]  # strictly greater
    assert _filtered(api, f"less-than(created,{iso(times[2])})") == profile_ids[:2]
    between = f"greater-than(created,{iso(times[0])}),less-than(created,{iso(times[3])})"
    assert _filtered(api, between) == profile_ids[1:3]
    assert (
        _filtered(api, f"and(greater-than(created,{iso(times[0])}),less-than(created,{iso(times[3])}))")
        == (profile_ids[1:3])
    )
    zulu = datetime.fromtimestamp(times[1], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _filtered(api, f"less-than(created,{zulu})") == profile_ids[:1]
    assert _filtered(api, f'less-than(created,"{zulu}")') == profile_ids[:1]
    assert _filtered(api, f"greater-than(updated,{iso(times[3])})") == [profile_ids[1]]
    assert _filtered(api, f"less-than(updated,{iso(changed)})") == [profile_ids[0], *profile_ids[2:]]
    assert _filtered(api, "greater-than(created,2099-01-01T00:00:00Z)") == []
    assert _filtered(api, "greater-than(created,2020-01-01T00:00:00Z)", sort="-created") == profile_ids[::-1]


def test_get_profiles_filter_plus_sent_unencoded(api: Api, live: Live) -> None:
    """A client that does not encode `+` sends a space; the datetime still reads as +00:00."""
    made = make(api, live, 2)
    cut = iso(moment(made[1]["attributes"]["created"]))
    assert cut.endswith("+00:00")
    response = api.http.get(
        f"{PROFILES_PATH}?filter=less-than(created,{cut})",
        headers={"Authorization": f"Klaviyo-API-Key {api.key}", "revision": api.revision},
    )
    assert "+" in str(response.request.url)
    reply = Reply(response.status_code, response.headers, response.text)
    assert reply.status == 200, reply.text
    check_against_spec("GET", PROFILES_PATH, "2024-02-15", reply)
    assert ids(reply.json()) == [made[0]["id"]]


def test_get_profiles_filter_on_suppressions_matches_nobody(api: Api) -> None:
    api.create_profile(email="unsuppressed@example.com")
    base = "subscriptions.email.marketing"
    assert _filtered(api, f'equals({base}.suppression.reason,"HARD_BOUNCE")') == []
    assert _filtered(api, f"greater-or-equal({base}.list_suppressions.timestamp,2020-01-01T00:00:00Z)") == []
    assert len(_filtered(api, f'not(equals({base}.list_suppressions.list_id,"Y6nRLr"))')) == 1


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('equals(first_name,"Sarah")', 7),
        ('less-than(email,"a@b.com")', 0),
        ("equals(email,a@b.com)", 13),
        ("equals(email,5)", 13),
        ("greater-than(created,yesterday)", 21),
        ('equals(created,"2023-03-01T00:00:00Z")', 0),
        ('equals(email,"a@b.com"', 22),
        ('any(email,"a@b.com")', 10),
        ('and(equals(email,"a@b.com"))', 0),
        ('equals(email,"a@b.com"))', 23),
        ("nonsense", 8),
        (" ", 1),
    ],
)
def test_get_profiles_bad_filter_400(api: Api, text: str, where: int) -> None:
    error = error_of(listing(api, {"filter": text}), "filter")
    assert error["title"] == "Invalid input."
    assert error["detail"].startswith("Invalid filter provided: ")
    assert error["detail"].endswith(f"(at position {where}).")


# --- accounts ------------------------------------------------------------------------------------------


def test_get_profiles_another_account_sees_none(api: Api, live: Live) -> None:
    mine = api.create_profile(email="mine@example.com")["id"]
    _, key = live.new_account()
    other = Api(live.url, key)
    try:
        assert page(other)["data"] == []
        assert ids(page(other, {"filter": f'equals(id,"{mine}")'})) == []
        assert ids(page(other, {"filter": 'equals(email,"mine@example.com")'})) == []
        theirs = other.create_profile(email="mine@example.com")["id"]  # the same email, another account
        assert ids(page(other)) == [theirs]
        assert ids(page(api)) == [mine]
    finally:
        other.close()


# --- cursors -------------------------------------------------------------------------------------------


def _cursor(link: str) -> str:
    return dict(parse_qsl(urlsplit(link).query))["page[cursor]"]


def test_get_profiles_cursor_with_a_leading_equals_sign(api: Api, live: Live) -> None:
    made = sorted(profile["id"] for profile in make(api, live, 3))
    cursor = _cursor(page(api, {"page[size]": "2"})["links"]["next"])
    assert ids(page(api, {"page[size]": "2", "page[cursor]": cursor})) == made[2:]
    assert ids(page(api, {"page[size]": "2", "page[cursor]": "=" + cursor})) == made[2:]


def test_get_profiles_whole_next_link_as_cursor(api: Api, live: Live) -> None:
    made = sorted(profile["id"] for profile in make(api, live, 3))
    link = page(api, {"page[size]": "2"})["links"]["next"]
    # as an SDK sends an http:// link: decoded (brackets and all), then encoded again as one value
    assert ids(page(api, {"page[size]": "2", "page[cursor]": unquote(link)})) == made[2:]
    assert ids(page(api, {"page[size]": "2", "page[cursor]": link})) == made[2:]  # still percent-encoded
    prev = page(api, {"page[size]": "2", "page[cursor]": link})["links"]["prev"]
    assert ids(page(api, {"page[size]": "2", "page[cursor]": unquote(prev)})) == made[:2]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "bmV4dDo6aWQ6OjAxRjNaWk5ITlRYMUtFVEhQMzJTUzRBN0ZY",  # Klaviyo's own form, not ours
        base64.urlsafe_b64encode(b'["sideways","id","01GDDKASAP8TKDDA2GRZDSVP4H","01GDDKASAP8TKDDA2GRZDSVP4H"]')
        .decode()
        .rstrip("="),
        base64.urlsafe_b64encode(b'["next","id"]').decode(),
        base64.urlsafe_b64encode(b'{"next":1}').decode(),
        "%%%",
        "=",
        "http://example.com/api/profiles/?page%5Bcursor%5D=nope",
    ],
)
def test_get_profiles_garbage_cursor_400(api: Api, cursor: str) -> None:
    api.create_profile(email="garbage@example.com")
    error = error_of(listing(api, {"page[cursor]": cursor}), "page[cursor]")
    assert error["title"] == "Invalid input."


def test_get_profiles_cursor_of_another_sort_400(api: Api, live: Live) -> None:
    make(api, live, 3)
    link = page(api, {"page[size]": "1", "sort": "-created"})["links"]["next"]
    cursor = _cursor(link)
    error = error_of(listing(api, {"page[size]": "1", "page[cursor]": cursor}), "page[cursor]")
    assert "-created" in error["detail"]
    error_of(listing(api, {"page[size]": "1", "sort": "created", "page[cursor]": cursor}), "page[cursor]")
    assert listing(api, {"page[size]": "1", "sort": "-created", "page[cursor]": cursor}).status == 200


def test_get_profiles_cursor_may_change_page_size_and_filter(api: Api, live: Live) -> None:
    made = sorted(profile["id"] for profile in make(api, live, 6))
    cursor = _cursor(page(api, {"page[size]": "2"})["links"]["next"])
    assert ids(page(api, {"page[size]": "3", "page[cursor]": cursor})) == made[2:5]
    only = f'any(id,["{made[0]}","{made[4]}"])'
    assert ids(page(api, {"page[cursor]": cursor, "filter": only})) == [made[4]]


def test_get_profiles_prev_past_removed_profiles_ends(api: Api, live: Live) -> None:
    """A prev link whose earlier profiles were merged away gives an empty page that leads nowhere."""
    made = sorted(profile["id"] for profile in make(api, live, 3))
    last = followed(api, followed(api, page(api, {"page[size]": "1"})["links"]["next"])["links"]["next"])
    assert ids(last) == made[2:]
    merge = {
        "data": {
            "type": "profile-merge",
            "id": made[2],
            "relationships": {"profiles": {"data": [{"type": "profile", "id": made[1]}]}},
        }
    }
    assert api.request("POST", "/api/profile-merge/", json_body=merge).status == 201
    merge["data"]["relationships"] = {"profiles": {"data": [{"type": "profile", "id": made[0]}]}}
    assert api.request("POST", "/api/profile-merge/", json_body=merge).status == 201
    before = followed(api, last["links"]["prev"])
    assert before["data"] == []
    assert before["links"]["prev"] is None  # nothing before: following prev again would loop


# --- rate-limit tiers ----------------------------------------------------------------------------------


def test_get_profiles_predictive_analytics_tier(api: Api) -> None:
    api.create_profile(email="tier@example.com")
    plain = listing(api)
    assert plain.headers["RateLimit-Limit"] == "700"
    remaining = int(plain.headers["RateLimit-Remaining"])
    predictive = listing(api, {"additional-fields[profile]": "predictive_analytics"})
    assert predictive.status == 200
    assert predictive.headers["RateLimit-Limit"] == "150"
    assert predictive.headers["RateLimit-Remaining"] == "149"
    both = listing(api, {"additional-fields[profile]": "subscriptions,predictive_analytics"})
    assert both.headers["RateLimit-Limit"] == "150"
    subscriptions = listing(api, {"additional-fields[profile]": "subscriptions"})
    assert subscriptions.headers["RateLimit-Limit"] == "700"
    assert int(subscriptions.headers["RateLimit-Remaining"]) == remaining - 1


# --- paging while profiles are inserted ----------------------------------------------------------------


@dataclass
class Bulk:
    api: Api
    store: Store
    account_id: str
    profiles: dict[str, Profile]
    rng: random.Random

    def add(self, count: int) -> list[Profile]:
        """Profiles with ids, created times and emails anywhere in the range: before and after any page."""
        added = []
        for _ in range(count):
            when = START + self.rng.uniform(-86400, 86400)
            profile_id = Ids(ManualClock(when), seed=self.rng.getrandbits(32)).ulid()
            created = float(int(START + self.rng.uniform(-86400, 86400)) // 10 * 10)  # many ties
            profile = Profile(
                id=profile_id,
                email=f"{self.rng.getrandbits(40):010x}@Example.com" if self.rng.random() < 0.9 else None,
                phone_number=None,
                anonymous_id=profile_id,
                created=created,
                updated=created,
            )
            self.store.create_profile(self.account_id, profile)
            self.profiles[profile.id] = profile
            added.append(profile)
        return added


@pytest.fixture(scope="module")
def bulk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bulk]:
    path = tmp_path_factory.mktemp("paging") / "localviyo.db"
    clock = ManualClock(START)
    store = open_store(f"sqlite:///{path}")
    app = create_app(Settings(rate_limits="off"), store=store, clock=clock)
    key = accounts.create_key(store, clock, account="bulk", scopes=("*",))
    account = store.account_by_name("bulk")
    assert account is not None
    with ServerThread(app) as server:
        client = Api(server.url, key)
        data = Bulk(client, store, account.id, {}, random.Random(3000))
        data.add(3000)
        yield data
        client.close()
    store.close()


@pytest.mark.parametrize("sort", ["id", "-created", "email"])
def test_get_profiles_paging_under_inserts_returns_each_profile_once(bulk: Bulk, sort: str) -> None:
    order = Sort.parse(sort)
    existing = set(bulk.profiles)
    expected_extra: set[str] = set()
    seen: list[str] = []
    link: str | None = None
    pages = 0
    while True:
        if link is None:  # the first page is checked against the spec; the others are alike
            reply = bulk.api.request("GET", PROFILES_PATH, params={"page[size]": "100", "sort": sort})
            assert reply.status == 200, reply.text
            document = reply.json()
        else:
            document = unchecked(bulk.api, link)
        seen.extend(ids(document))
        pages += 1
        link = document["links"]["next"]
        if link is None:
            break
        here = position(bulk.profiles[seen[-1]], order)
        for profile in bulk.add(20):
            mine = position(profile, order)
            if (mine < here) if order.descending else (mine > here):
                expected_extra.add(profile.id)  # inserted ahead of the walk: it will be reached
    assert len(seen) == len(set(seen)), "a profile came twice"
    assert existing <= set(seen), f"{len(existing - set(seen))} profiles that existed at the start were skipped"
    assert set(seen) - existing == expected_extra
    positions = [position(bulk.profiles[profile_id], order) for profile_id in seen]
    assert positions == sorted(positions, reverse=order.descending)
    assert pages >= 30
    assert 0 < len(expected_extra) < 20 * (pages - 1)  # some inserts were ahead of the walk, some behind
