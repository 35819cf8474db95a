# Proves tests/sdk/harness.py against a canned stub server, independent of
# localviyo itself: both pinned SDK versions, success, API errors, model
# mismatches, timeouts and the headers/paths each version puts on the wire.
from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sdk.harness import (
    REVISIONS,
    VERSIONS,
    SDKClientError,
    SDKError,
    SDKRunner,
    SDKTimeoutError,
    SDKVenvOffline,
)

PROFILE_ID = "01GDDKASAP8TKDDA2GRZDSVP4H"
API_KEY = "pk_harness_test"
# No SDK-side retries or long backoffs: the stub never answers 429/5xx anyway.
OPTIONS = {"max_retries": 1, "max_delay": 1}


def profile_document(base: str, profile_id: str) -> dict[str, Any]:
    # Shaped after GetProfileResponsePluralConversationsCompoundDocument in the
    # 2026-07-15 spec: data.type, data.attributes and data.links.self are
    # required, and each relationship's links needs both self and related.
    self_url = f"{base}/api/profiles/{profile_id}/"

    def relationship(name: str) -> dict[str, Any]:
        return {
            "links": {
                "self": f"{self_url}relationships/{name}/",
                "related": f"{self_url}{name}/",
            }
        }

    return {
        "data": {
            "type": "profile",
            "id": profile_id,
            "attributes": {
                "email": "sarah.mason@klaviyo-demo.com",
                "phone_number": None,
                "external_id": None,
                "first_name": "Sarah",
                "last_name": "Mason",
                "organization": None,
                "locale": None,
                "title": None,
                "image": None,
                "created": "2022-11-08T00:00:00+00:00",
                "updated": "2022-11-08T00:00:00+00:00",
                "last_event_date": None,
                "location": {
                    "address1": None,
                    "address2": None,
                    "city": "Boston",
                    "country": None,
                    "latitude": None,
                    "longitude": None,
                    "region": None,
                    "zip": None,
                    "timezone": None,
                    "ip": None,
                },
                "properties": {"pseudonym": "Dr. Octopus"},
            },
            "relationships": {
                name: relationship(name) for name in ("lists", "segments", "push-tokens", "conversations")
            },
            "links": {"self": self_url},
        },
        "links": {"self": self_url},
    }


NOT_FOUND = {
    "errors": [
        {
            "id": "7f3b1d2e-1c39-4d0e-9e55-7f4b0f1d2a10",
            "status": 404,
            "code": "not_found",
            "title": "Not found.",
            "detail": "A profile with id BOGUS does not exist.",
            "source": {"pointer": "/data/"},
        }
    ]
}


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Stub:
    url: str
    requests: list[Seen] = field(default_factory=list)
    # Holds SLOW requests until the test ends, so they hang from the client's view.
    release: threading.Event = field(default_factory=threading.Event)


def _handler(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            stub.requests.append(Seen("GET", self.path, dict(self.headers.items())))
            profile_id = self.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
            if profile_id == "SLOW":
                stub.release.wait(timeout=30)
            if profile_id == PROFILE_ID:
                self._send(200, profile_document(stub.url, PROFILE_ID))
            elif profile_id == "NO_LINKS":
                # Valid JSON:API-ish, but missing data.links, which 25.x requires.
                doc = copy.deepcopy(profile_document(stub.url, profile_id))
                del doc["data"]["links"]
                self._send(200, doc)
            else:
                self._send(404, NOT_FOUND)

        def _send(self, status: int, doc: dict[str, Any]) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.api+json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Stub", "yes")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # The timeout test kills the client mid-request; a broken pipe here is expected.
        pass


@pytest.fixture
def stub() -> Iterator[Stub]:
    stub = Stub(url="")
    server = _QuietServer(("127.0.0.1", 0), _handler(stub))
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        stub.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module", params=VERSIONS)
def runner(request: pytest.FixtureRequest) -> Iterator[SDKRunner]:
    try:
        sdk = SDKRunner(request.param)
    except SDKVenvOffline as exc:
        # Only a missing index with nothing cached skips; any other failure
        # to build the venv is a real error.
        last = exc.output.strip().splitlines()[-1:] or [""]
        pytest.skip(f"klaviyo-api {request.param}: no cached venv and no package index reachable: {last[0]}")
    with sdk:
        yield sdk


def test_version_and_revision(runner: SDKRunner) -> None:
    assert runner.sdk_version() == runner.version
    assert runner.revision() == REVISIONS[runner.version]


def test_get_profile_returns_plain_dict(runner: SDKRunner, stub: Stub) -> None:
    client = runner.client(API_KEY, stub.url, OPTIONS)
    result = client.call("Profiles", "get_profile", PROFILE_ID)

    assert isinstance(result, dict)
    assert result["data"]["id"] == PROFILE_ID
    assert result["data"]["type"] == "profile"
    assert result["data"]["attributes"]["email"] == "sarah.mason@klaviyo-demo.com"
    assert result["data"]["relationships"]["push-tokens"]["links"]["related"].endswith("/push-tokens/")
    if runner.version == "25.0.0":
        # A typed model came back and was converted using wire names.
        assert runner.last_model == "GetProfileResponsePluralConversationsCompoundDocument"
        assert result["data"]["links"] == {"self": f"{stub.url}/api/profiles/{PROFILE_ID}/"}
    else:
        assert runner.last_model is None

    [seen] = stub.requests
    assert seen.method == "GET"
    slash = "/" if runner.version == "7.0.0" else ""
    assert seen.path == f"/api/profiles/{PROFILE_ID}{slash}"
    assert seen.headers["revision"] == REVISIONS[runner.version]
    assert seen.headers["Authorization"] == f"Klaviyo-API-Key {API_KEY}"


def test_sparse_fieldset_query_reaches_the_server(runner: SDKRunner, stub: Stub) -> None:
    result = runner.call(
        API_KEY, stub.url, "Profiles", "get_profile", PROFILE_ID, options=OPTIONS, fields_profile=["email"]
    )
    assert result["data"]["id"] == PROFILE_ID
    assert stub.requests[0].path.endswith("?fields%5Bprofile%5D=email")


def test_not_found_is_sdk_error_with_body_intact(runner: SDKRunner, stub: Stub) -> None:
    client = runner.client(API_KEY, stub.url, OPTIONS)
    with pytest.raises(SDKError) as caught:
        client.call("Profiles", "get_profile", "BOGUS")

    err = caught.value
    assert err.status == 404
    assert err.reason == "Not Found"
    assert err.json() == NOT_FOUND
    assert err.body == json.dumps(NOT_FOUND)
    assert err.header("content-type") == "application/vnd.api+json"
    assert err.headers["X-Stub"] == "yes"  # original case preserved
    if runner.version == "25.0.0":
        assert err.data is not None  # the body fit the SDK's error model


def test_response_model_mismatch(runner: SDKRunner, stub: Stub) -> None:
    client = runner.client(API_KEY, stub.url, OPTIONS)
    if runner.version == "7.0.0":
        # 7.x returns untyped dicts, so it accepts what 25.x rejects.
        assert "links" not in client.call("Profiles", "get_profile", "NO_LINKS")["data"]
        return
    with pytest.raises(SDKClientError) as caught:
        client.call("Profiles", "get_profile", "NO_LINKS")
    assert caught.value.type == "ValidationError"
    assert "links" in caught.value.message


def test_driver_survives_bad_requests(runner: SDKRunner, stub: Stub) -> None:
    client = runner.client(API_KEY, stub.url, OPTIONS)
    with pytest.raises(SDKClientError) as caught:
        client.call("Profiles", "no_such_method")
    assert caught.value.type == "AttributeError"
    with pytest.raises(SDKClientError):
        client.call("Profiles", "get_profile")  # missing the required id
    assert client.call("Profiles", "get_profile", PROFILE_ID)["data"]["id"] == PROFILE_ID


def test_timeout_fails_then_runner_recovers(runner: SDKRunner, stub: Stub) -> None:
    with pytest.raises(SDKTimeoutError):
        runner.invoke(API_KEY, stub.url, "Profiles", "get_profile", ["SLOW"], options=OPTIONS, timeout=0.5)
    # The hung driver was killed; the next call starts a fresh one.
    result = runner.call(API_KEY, stub.url, "Profiles", "get_profile", PROFILE_ID, options=OPTIONS)
    assert result["data"]["id"] == PROFILE_ID
