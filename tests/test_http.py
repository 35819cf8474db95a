"""What every request passes through: routes, methods, bodies, media types, revisions, server faults."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import httpx
import pytest
from client import Api
from conftest import START, Live

from localviyo import ManualClock, Settings, create_app, revisions
from localviyo.storage import open_store
from localviyo.testing import ServerThread

PROFILE = "01GDDKASAP8TKDDA2GRZDSVP4H"


def test_unknown_route_404(api: Api) -> None:
    reply = api.request("GET", "/api/nothing-here/")
    assert reply.status == 404
    assert reply.error["code"] == "not_found"
    assert reply.error["title"] == "Not found."
    assert reply.error["source"] == {"pointer": "/data/"}


@pytest.mark.parametrize("path", ["/api/profiles//", "/api//profiles/", "/", "/api/profiles/x/y/"])
def test_malformed_paths_404(api: Api, path: str) -> None:
    assert api.request("GET", path).status == 404


def test_wrong_method_405_with_allow(api: Api) -> None:
    reply = api.request("PUT", f"/api/profiles/{PROFILE}/", json_body={})
    assert reply.status == 405
    assert reply.headers["allow"] == "GET, PATCH, HEAD, OPTIONS"
    assert reply.error == {
        "id": reply.error["id"],
        "status": 405,
        "code": "method_not_allowed",
        "title": 'Method "PUT" not allowed.',
        "detail": 'Method "PUT" not allowed.',
        "source": {"pointer": "/data/"},
    }
    collection = api.request("DELETE", "/api/profiles")
    assert collection.status == 405
    assert collection.headers["allow"] == "GET, POST, HEAD, OPTIONS"  # as in a live Klaviyo 405


def test_options_lists_methods(api: Api) -> None:
    reply = api.request("OPTIONS", "/api/profiles/")
    assert reply.status == 204
    assert reply.headers["allow"] == "GET, POST, HEAD, OPTIONS"


def test_head_is_get_without_a_body(api: Api) -> None:
    profile = api.create_profile(email="head@example.com")
    reply = api.request("HEAD", api.profile_path(profile["id"]))
    assert reply.status == 200
    assert reply.text == ""
    assert int(reply.headers["content-length"]) > 0


def test_body_over_100kb_413_and_nothing_created(api: Api) -> None:
    big = {"data": {"type": "profile", "attributes": {"email": "big@example.com", "properties": {"x": "a" * 102400}}}}
    reply = api.request("POST", "/api/profiles/", json_body=big)
    assert reply.status == 413
    assert reply.error["code"] == "payload_too_large"
    assert reply.error["detail"] == "The maximum allowed payload size is 100KB."
    assert api.post_profile({"email": "big@example.com"}).status == 201


def test_body_over_100kb_without_content_length_413(api: Api, live: Live) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"data": {"type": "profile", "attributes": {"email": "chunked@example.com", "properties": {"x": "'
        for _ in range(120):
            yield b"a" * 1024
        yield b'"}}}}'

    headers = {
        "Authorization": f"Klaviyo-API-Key {api.key}",
        "revision": "2024-02-15",
        "Content-Type": "application/json",
    }
    response = httpx.post(f"{live.url}/api/profiles/", content=chunks(), headers=headers)
    assert response.status_code == 413
    assert api.post_profile({"email": "chunked@example.com"}).status == 201


@pytest.mark.parametrize(("size", "status"), [(102400, 201), (102401, 413)])
def test_body_size_limit_is_exactly_100kib(api: Api, size: int, status: int) -> None:
    template = (
        '{"data": {"type": "profile", "attributes": {"email": "fits-%d@example.com", "properties": {"x": "%s"}}}}'
    )
    empty = (template % (size, "")).encode()
    body = template % (size, "a" * (size - len(empty)))
    assert len(body.encode()) == size
    assert api.request("POST", "/api/profiles/", content=body).status == status


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_unsupported_media_type_415(api: Api, content_type: str | None) -> None:
    reply = api.request(
        "POST",
        "/api/profiles/",
        content='{"data": {"type": "profile", "attributes": {"email": "media@example.com"}}}',
        content_type=content_type,
    )
    assert reply.status == 415
    assert reply.error["code"] == "unsupported_media_type"
    assert reply.error["detail"] == f'Unsupported media type "{content_type or ""}" in request.'


@pytest.mark.parametrize("content_type", ["application/vnd.api+json", "application/json; charset=utf-8"])
def test_both_json_media_types_accepted(api: Api, content_type: str) -> None:
    reply = api.request(
        "POST",
        "/api/profiles/",
        content=json.dumps(
            {"data": {"type": "profile", "attributes": {"email": f"ok-{len(content_type)}@example.com"}}}
        ),
        content_type=content_type,
    )
    assert reply.status == 201


@pytest.mark.parametrize("body", ["{not json", '{"data": ', "\xff\xfe", "null", ""], ids=repr)
def test_malformed_or_empty_json_400(api: Api, body: str) -> None:
    reply = api.request("POST", "/api/profiles/", content=body.encode("latin-1"))
    assert reply.status == 400
    if body in ("null", ""):
        assert reply.error["detail"] == "The payload provided in the request is invalid."
    else:
        assert reply.error["code"] == "parse_error"
        assert reply.error["title"] == "Malformed request."
        assert reply.error["detail"].startswith("JSON parse error - ")


def test_missing_revision_400(api: Api) -> None:
    reply = api.request("GET", f"/api/profiles/{PROFILE}/", revision="")
    assert reply.status == 400
    assert reply.error["code"] == "invalid"
    assert reply.error["detail"] == revisions.MISSING
    assert reply.error["source"] == {"parameter": "revision"}


@pytest.mark.parametrize("value", ["abc", "2024-2-15", "20240215", "2024-02-15.PRE!"])
def test_malformed_revision_400(api: Api, value: str) -> None:
    reply = api.request("GET", f"/api/profiles/{PROFILE}/", revision=value)
    assert reply.status == 400
    assert reply.error["detail"] == revisions.MALFORMED.format(value=value)


def test_future_revision_404(api: Api) -> None:
    reply = api.request("GET", f"/api/profiles/{PROFILE}/", revision="2027-01-15")
    assert reply.status == 404
    assert reply.error["detail"] == "Unable to specify a future revision date"
    assert reply.error["source"] == {"parameter": "revision"}


def test_undocumented_revision_404(api: Api) -> None:
    reply = api.request("GET", f"/api/profiles/{PROFILE}/", revision="2024-02-14")
    assert reply.status == 404
    assert reply.error["detail"] == "No valid revisions found for method, please check our documentation"


@pytest.mark.parametrize("revision", revisions.KNOWN_REVISIONS)
def test_every_documented_revision_is_served(api: Api, revision: str) -> None:
    reply = api.request("GET", f"/api/profiles/{PROFILE}/", revision=revision)
    assert reply.status == 404
    assert reply.error["detail"] == f"A profile with id {PROFILE} does not exist."


def test_revision_is_checked_before_the_key(api: Api) -> None:
    reply = api.request("GET", f"/api/profiles/{PROFILE}/", revision="abc", key="pk_unknown")
    assert reply.status == 400


@pytest.fixture
def breakable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, str]]:
    """A server of its own whose database a test may damage behind its back."""
    path = tmp_path_factory.mktemp("breakable") / "localviyo.db"
    clock = ManualClock(START)
    store = open_store(f"sqlite:///{path}")
    app = create_app(Settings(), store=store, clock=clock)
    from localviyo import accounts

    key = accounts.create_key(store, clock, scopes=("*",))
    with ServerThread(app) as server:
        client = Api(server.url, key)
        yield client, str(path)
        client.close()
    store.close()


def test_internal_fault_is_a_500_without_a_trace(breakable: tuple[Api, str], caplog: pytest.LogCaptureFixture) -> None:
    api, path = breakable
    profile = api.create_profile(email="fault@example.com")
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE profiles RENAME TO profiles_gone")
    reply = api.get_profile(profile["id"])
    assert reply.status == 500
    assert reply.error == {
        "id": reply.error["id"],
        "status": 500,
        "code": "error",
        "title": "A server error occurred.",
        "detail": "A server error occurred.",
    }
    assert "Traceback" not in reply.text and "sqlite" not in reply.text.lower()
    assert any("unhandled error in get_profile" in record.getMessage() for record in caplog.records)
