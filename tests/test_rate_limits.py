"""Klaviyo's rate limits over HTTP, with the server's clock in the test's hand: no sleeping."""

from __future__ import annotations

from client import Api
from conftest import Live

PROFILE = "01GDDKASAP8TKDDA2GRZDSVP4H"


def get(api: Api) -> int:
    return api.request("GET", f"/api/profiles/{PROFILE}/").status


def test_headers_describe_the_steady_window(api: Api, live: Live, minute: float) -> None:
    live.clock.set(minute + 20.5)
    reply = api.request("GET", f"/api/profiles/{PROFILE}/")
    assert reply.status == 404
    assert reply.headers["RateLimit-Limit"] == "700"
    assert reply.headers["RateLimit-Remaining"] == "699"
    assert reply.headers["RateLimit-Reset"] == "40"
    assert "Retry-After" not in reply.headers
    assert api.request("GET", f"/api/profiles/{PROFILE}/").headers["RateLimit-Remaining"] == "698"


def test_burst_of_75_per_second(api: Api, live: Live, minute: float) -> None:
    statuses = [get(api) for _ in range(75)]
    assert statuses == [404] * 75
    reply = api.request("GET", f"/api/profiles/{PROFILE}/")
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "1"
    assert not any(name.lower().startswith("ratelimit-") for name in reply.headers)
    assert reply.json()["errors"][0] == {
        "id": reply.error["id"],
        "status": 429,
        "code": "throttled",
        "title": "Request was throttled.",
        "detail": "Request was throttled. Expected available in 1 second.",
        "source": {"pointer": "/data"},
        "links": {"type": "https://developers.klaviyo.com/en/docs/rate_limits_and_error_handling#rate-limits"},
        "meta": {},
    }
    live.clock.advance(1)
    assert get(api) == 404


def test_steady_700_per_minute(api: Api, live: Live, minute: float) -> None:
    for second in range(10):
        live.clock.set(minute + second)
        assert [get(api) for _ in range(70)] == [404] * 70
    live.clock.set(minute + 15.2)
    reply = api.request("GET", f"/api/profiles/{PROFILE}/")
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "45"
    assert reply.error["detail"] == "Request was throttled. Expected available in 45 seconds."
    live.clock.set(minute + 60)
    reply = api.request("GET", f"/api/profiles/{PROFILE}/")
    assert reply.status == 404
    assert reply.headers["RateLimit-Remaining"] == "699"


def test_refused_requests_do_not_count(api: Api, live: Live, minute: float) -> None:
    assert [get(api) for _ in range(80)].count(429) == 5
    live.clock.advance(1)
    reply = api.request("GET", f"/api/profiles/{PROFILE}/")
    assert reply.headers["RateLimit-Remaining"] == str(700 - 76)


def test_limits_are_per_operation(api: Api, live: Live, minute: float) -> None:
    assert [get(api) for _ in range(75)] == [404] * 75
    assert get(api) == 429
    assert api.post_profile({"email": "other-operation@example.com"}).status == 201


def test_limits_are_per_account(api: Api, live: Live, minute: float) -> None:
    assert [get(api) for _ in range(75)] == [404] * 75
    _, other_key = live.new_account()
    assert api.request("GET", f"/api/profiles/{PROFILE}/", key=other_key).status == 404
    assert get(api) == 429


def test_keys_of_one_account_share_its_limits(api: Api, live: Live, minute: float) -> None:
    name, key = live.new_account()
    second = live.key(name)
    for _ in range(75):
        assert api.request("GET", f"/api/profiles/{PROFILE}/", key=key).status == 404
    assert api.request("GET", f"/api/profiles/{PROFILE}/", key=second).status == 429


def test_later_revisions_have_750_per_minute(api: Api, live: Live, minute: float) -> None:
    reply = api.request("GET", f"/api/profiles/{PROFILE}", revision="2026-10-15")
    assert reply.headers["RateLimit-Limit"] == "750"


def test_errors_after_the_limiter_carry_the_headers(api: Api, minute: float) -> None:
    reply = api.update_profile(PROFILE, {"email": "bad"})
    assert reply.status == 400
    assert reply.headers["RateLimit-Limit"] == "700"


def test_unauthenticated_requests_are_not_limited(api: Api, minute: float) -> None:
    for _ in range(100):
        assert api.request("GET", f"/api/profiles/{PROFILE}/", key="pk_" + "y" * 34).status == 401
