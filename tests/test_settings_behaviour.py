"""The [INF] choices a deployment can change, each over HTTP on a server of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from client import Api

from localviyo import ManualClock, Settings, accounts, create_app
from localviyo.core.document import WRONG_ID
from localviyo.revisions import UNKNOWN
from localviyo.testing import ServerThread

OTHER = "01GDDKASAP8TKDDA2GRZDSVP4H"


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    servers: list[tuple[ServerThread, Api]] = []

    def start(**settings: Any) -> Api:
        app = create_app(Settings(database_url=f"sqlite:///{tmp_path / f'{len(servers)}.db'}", **settings))
        key = accounts.create_key(app.store, ManualClock(), scopes=("*",))
        server = ServerThread(app).start()
        api = Api(server.url, key)
        servers.append((server, api))
        return api

    yield start
    for server, api in servers:
        api.close()
        server.stop()


def test_merge_prefer_source(serve: Any) -> None:
    api = serve(merge_prefer="source")
    destination = api.create_profile(email="d@example.com", first_name="Dest", properties={"k": "d", "only_d": 1})
    source = api.create_profile(external_id="src", first_name="Src", properties={"k": "s"})
    merge = {
        "data": {
            "type": "profile-merge",
            "id": destination["id"],
            "relationships": {"profiles": {"data": [{"type": "profile", "id": source["id"]}]}},
        }
    }
    assert api.request("POST", "/api/profile-merge/", json_body=merge).status == 201
    merged = api.get_profile(destination["id"]).json()["data"]["attributes"]
    assert merged["first_name"] == "Src"
    assert merged["email"] == "d@example.com"  # the source had none: the destination's fills the gap
    assert merged["external_id"] == "src"
    assert merged["properties"] == {"k": "s", "only_d": 1}


def test_revisions_subset(serve: Any) -> None:
    api = serve(revisions="2024-02-15,2026-10-15")
    assert api.request("GET", f"/api/profiles/{OTHER}/", revision="2024-02-15").status == 404
    refused = api.request("GET", f"/api/profiles/{OTHER}/", revision="2024-05-15")
    assert refused.status == 404
    assert refused.error["detail"] == UNKNOWN
    assert refused.error["source"] == {"parameter": "revision"}


def test_mismatch_status_400(serve: Any) -> None:
    api = serve(mismatch_status=400)
    profile = api.create_profile(email="m@example.com")
    body = {"data": {"type": "profile", "id": OTHER, "attributes": {}}}
    reply = api.request("PATCH", api.profile_path(profile["id"]), json_body=body)
    assert reply.status == 400
    assert reply.error["code"] == "invalid"
    assert reply.error["detail"] == WRONG_ID.format(got=OTHER, expected=profile["id"])


def test_external_id_not_unique(serve: Any) -> None:
    api = serve(external_id_unique=False)
    first = api.create_profile(external_id="shared", email="1@example.com")
    second = api.create_profile(external_id="shared", email="2@example.com")
    assert first["id"] != second["id"]
    found = api.request("GET", "/api/profiles/", params={"filter": 'equals(external_id,"shared")'})
    assert {profile["id"] for profile in found.json()["data"]} == {first["id"], second["id"]}
