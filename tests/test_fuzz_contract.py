"""Fuzzing localviyo against Klaviyo's own contract: the 2024-02-15 OpenAPI spec.

schemathesis reads Klaviyo's spec (`../shared/klaviyo-openapi/stable-2024-02-15.json`, never copied into this
repository), keeps the operations localviyo serves (the operationIds of `localviyo.api.routes.OPERATIONS`),
and generates requests for each: valid ones (positive mode) and ones that break the spec's schemas
(negative mode). Every request carries a valid full-access key and `revision: 2024-02-15`; the server is
real (localviyo's HTTP server on a socket, SQLite on disk) with rate limits off. For every answer:

- no 5xx;
- the body matches the spec's response schema for that operation and status (tests/spec.py; the one
  deliberate difference, `links.next`/`links.prev` null on collections, is passed over as in tests/client.py);
- every 4xx is a JSON:API error document (`errors`: objects with string `id`, `code`, `title`, `detail`).

schemathesis's own `negative_data_rejection` check is not used: localviyo ignores unknown query parameters
and unknown `location` keys on purpose (README, Differences from Klaviyo), and the injected key and revision
replace the invalid headers negative mode generates, so it would report those as accepted bad input.

To reach the success paths too, positive cases are sometimes aimed at real profiles (path ids, `data.id`,
merge sources) and given an email and phone number that pass validation. In negative mode schemathesis also
drops the Authorization header now and then, to check unauthenticated calls: those must get a 401.

Bounded for CI: LOCALVIYO_FUZZ_EXAMPLES examples per operation and mode (default 25; the file runs in well
under a minute). A long run:

    LOCALVIYO_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/test_fuzz_contract.py -p no:cacheprovider -q

Needs schemathesis (tested with schemathesis==4.32.5); the file skips without it or without the spec.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import spec
from client import _as_the_spec_says

from localviyo import ManualClock, Settings, accounts, create_app
from localviyo.api.routes import OPERATIONS
from localviyo.core.document import IMPORT_ATTRIBUTES
from localviyo.core.keys import FULL_ACCESS
from localviyo.storage import open_store
from localviyo.testing import ServerThread

REVISION = "2024-02-15"
SPEC_PATH = spec.SPEC_DIR / f"stable-{REVISION}.json"
EXAMPLES = int(os.environ.get("LOCALVIYO_FUZZ_EXAMPLES", "25"))
OPERATION_IDS = [operation.id for operation in OPERATIONS]

if not SPEC_PATH.is_file():
    pytest.skip(f"Klaviyo's spec is not at {SPEC_PATH}", allow_module_level=True)
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402


@dataclass
class Target:
    url: str
    key: str
    seeded: list[str]  # profiles that exist, for path ids
    tally: dict[str, dict[int, int]] = field(default_factory=dict)
    serial: Iterator[int] = field(default_factory=itertools.count)

    def fresh_profile(self) -> str:
        body = {"data": {"type": "profile", "attributes": {"email": f"merge{next(self.serial)}@fuzz.test"}}}
        reply = httpx.post(f"{self.url}/api/profiles/", json=body, headers=_headers(self.key), timeout=30)
        assert reply.status_code == 201, reply.text
        profile_id: str = reply.json()["data"]["id"]
        return profile_id

    def count(self, operation_id: str, status: int) -> None:
        by_status = self.tally.setdefault(operation_id, {})
        by_status[status] = by_status.get(status, 0) + 1


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    path = tmp_path_factory.mktemp("fuzz") / "localviyo.db"
    store = open_store(f"sqlite:///{path}")
    clock = ManualClock()
    app = create_app(Settings(rate_limits="off"), store=store, clock=clock)
    key = accounts.create_key(store, clock, scopes=(FULL_ACCESS,))
    with ServerThread(app) as server:
        seeded = []
        with httpx.Client(base_url=server.url, headers=_headers(key), timeout=30) as http:
            for index in range(5):
                body = {"data": {"type": "profile", "attributes": {"email": f"seed{index}@fuzz.test"}}}
                reply = http.post("/api/profiles/", json=body)
                assert reply.status_code == 201, reply.text
                seeded.append(reply.json()["data"]["id"])
        found = Target(server.url, key, seeded)
        yield found
        total = sum(sum(by_status.values()) for by_status in found.tally.values())
        print(f"\nfuzz contract: {total} generated requests, {EXAMPLES} examples per operation and mode")
        for operation_id, by_status in sorted(found.tally.items()):
            print(f"  {operation_id}: {dict(sorted(by_status.items()))}")
    store.close()


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Klaviyo-API-Key {key}", "revision": REVISION}


@pytest.fixture(scope="module")
def schema() -> Any:
    loaded = schemathesis.openapi.from_path(SPEC_PATH)
    return loaded.include(operation_id=OPERATION_IDS)


def test_the_spec_has_every_operation_we_serve(schema: Any) -> None:
    found = {result.ok().definition.raw["operationId"] for result in schema.get_all_operations()}
    assert found == set(OPERATION_IDS)


def _operation(schema: Any, operation_id: str) -> Any:
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.definition.raw["operationId"] == operation_id:
            return operation
    raise AssertionError(f"{operation_id} is not in the spec")


def _is_error_document(document: Any, status: int) -> bool:
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list) or not errors:
        return False
    for item in errors:
        if not isinstance(item, dict):
            return False
        if not all(isinstance(item.get(name), str) for name in ("id", "code", "title", "detail")):
            return False
        if item.get("status", status) != status:
            return False
    return True


ATTRIBUTES = frozenset(IMPORT_ATTRIBUTES) - {"locale"}  # what 2024-02-15 knows of a profile
VALID_PHONES = ("+14155552671", "+442071838750", "+33142685300", "+15005550006")


def _aim_at_real_profiles(case: Any, target: Target, data: st.DataObject) -> None:
    """In positive mode, sometimes point the request at profiles that exist and give it identifiers that pass
    validation, so the success paths are fuzzed too (random strings are almost never valid emails)."""
    if case.meta is not None and case.meta.generation.mode.is_negative:
        return  # a real id could turn a deliberately invalid value into a valid one
    # A seeded RNG rather than st.booleans(): Hypothesis starts from (and shrinks to) False.
    rng = random.Random(data.draw(st.integers(0, 2**32), label="aim"))
    if rng.random() < 0.3:
        return
    operation_id = case.operation.definition.raw["operationId"]
    chosen = rng.choice(target.seeded)
    if case.path_parameters and "id" in case.path_parameters:
        case.path_parameters["id"] = chosen
    inner = case.body.get("data") if isinstance(case.body, dict) else None
    if not isinstance(inner, dict):
        return
    attributes = inner.get("attributes")
    if isinstance(attributes, dict):
        for name in [name for name in attributes if name not in ATTRIBUTES]:
            del attributes[name]  # the spec allows any; we refuse unknown ones (README, Differences)
        if "email" in attributes or rng.random() < 0.7:
            attributes["email"] = f"fuzz{next(target.serial)}@fuzz.test"
        if "phone_number" in attributes:
            attributes["phone_number"] = rng.choice(VALID_PHONES)
        for name in ("external_id", "anonymous_id", "_kx"):
            if name in attributes:
                attributes[name] = f"{name}-{next(target.serial)}"
    if operation_id == "update_profile":
        inner["id"] = chosen
    elif operation_id == "merge_profiles":
        destination, source = target.fresh_profile(), target.fresh_profile()
        inner["id"] = destination
        inner["relationships"] = {"profiles": {"data": [{"type": "profile", "id": source}]}}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
@pytest.mark.parametrize("operation_id", OPERATION_IDS)
def test_fuzzed_requests_keep_klaviyos_contract(
    schema: Any, target: Target, operation_id: str, mode: GenerationMode
) -> None:
    operation = _operation(schema, operation_id)
    strategy = operation.as_strategy(generation_mode=mode)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=os.environ.get("LOCALVIYO_FUZZ_EXAMPLES") is None,  # CI: the same cases every run
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy, data=st.data())
    def run(case: Any, data: st.DataObject) -> None:
        _aim_at_real_profiles(case, target, data)
        response = case.call(base_url=target.url, headers=_headers(target.key), timeout=30)
        status = response.status_code
        target.count(operation_id, status)
        reproduce = case.as_curl_command(headers=_headers("pk_REDACTED"), base_url=target.url)
        assert status < 500, f"{status} {response.text[:500]}\n{reproduce}"
        body: Any = None
        if response.content:
            assert response.headers.get("content-type") == ["application/vnd.api+json"], reproduce
            body = json.loads(response.content)
            spec.validate_response(REVISION, operation_id, status, _as_the_spec_says(body))
        if status >= 400:
            assert _is_error_document(body, status), f"{status} {response.text[:500]}\n{reproduce}"

    run()


def test_long_runs_are_documented() -> None:
    doc = __doc__ or ""
    assert "LOCALVIYO_FUZZ_EXAMPLES=" in doc
    assert Path(__file__).name in doc
