"""Seed files and exports: profiles as JSON lines (or one JSON array), the same shape both ways.

Each item is a profile's attributes, or a resource-like object:

    {"email": "sarah.mason@klaviyo-demo.com", "first_name": "Sarah"}
    {"id": "01H…", "account": "default", "created": "2024-01-02T03:04:05+00:00",
     "attributes": {"email": "…", "anonymous_id": "…", "_kx": "…", "properties": {…}}}

Seeding is an upsert: an item with an `id` updates that profile or creates it with that id; one without
updates the profile its identifiers name or creates one. So a seed file can be applied at every start.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from localviyo.clock import frozen_at, utc
from localviyo.core.profile import LOCATION_KEYS, STRING_ATTRIBUTES, Profile
from localviyo.jsonapi import timestamp

INVALID_SEED = "Invalid seed item {index}: {problem}"


@dataclass(frozen=True, slots=True)
class SeedItem:
    attributes: dict[str, Any]
    id: str | None = None
    account: str | None = None
    created: float | None = None
    updated: float | None = None


def parse_seed(raw: bytes) -> list[SeedItem]:
    """A JSON array, one JSON object, or JSON lines; ValueError names the item that is wrong."""
    text = raw.strip()
    if not text:
        return []
    try:
        documents = msgspec.json.decode(text) if text[:1] in (b"[", b"{") and b"\n{" not in text else None
    except msgspec.DecodeError:
        documents = None
    if documents is None:
        try:
            documents = [msgspec.json.decode(line) for line in text.splitlines() if line.strip()]
        except msgspec.DecodeError as error:
            raise ValueError(f"Invalid seed: not JSON, a JSON array or JSON lines ({error})") from None
    if isinstance(documents, dict):
        documents = [documents]
    return [_item(index, document) for index, document in enumerate(documents)]


def _item(index: int, document: Any) -> SeedItem:
    if not isinstance(document, dict):
        raise ValueError(INVALID_SEED.format(index=index, problem="expected a JSON object"))
    attributes = document.get("attributes", document if "attributes" not in document else None)
    if not isinstance(attributes, dict):
        raise ValueError(INVALID_SEED.format(index=index, problem="attributes must be an object"))
    if "attributes" not in document:
        attributes = {k: v for k, v in document.items() if k not in ("id", "type", "account", "created", "updated")}
    times: dict[str, float | None] = {}
    for name in ("created", "updated"):
        value = document.get(name)
        try:
            times[name] = None if value is None else frozen_at(str(value))
        except ValueError:
            raise ValueError(INVALID_SEED.format(index=index, problem=f"{name} is not an ISO 8601 time")) from None
    profile_id, account = document.get("id"), document.get("account")
    if profile_id is not None and not isinstance(profile_id, str):
        raise ValueError(INVALID_SEED.format(index=index, problem="id must be a string"))
    if account is not None and not isinstance(account, str):
        raise ValueError(INVALID_SEED.format(index=index, problem="account must be a string"))
    return SeedItem(attributes, profile_id, account, times["created"], times["updated"])


def export_line(profile: Profile, account: str) -> dict[str, Any]:
    """A profile as an export line, write-only identifiers included: seeding it back restores it."""
    attributes: dict[str, Any] = {}
    for name in STRING_ATTRIBUTES:
        if getattr(profile, name) is not None:
            attributes[name] = getattr(profile, name)
    if profile.kx is not None:
        attributes["_kx"] = profile.kx
    location = {key: profile.location[key] for key in LOCATION_KEYS if key in profile.location}
    if location:
        attributes["location"] = location
    if profile.properties:
        attributes["properties"] = profile.properties
    return {
        "id": profile.id,
        "account": account,
        "created": timestamp(profile.created),
        "updated": timestamp(profile.updated),
        "attributes": attributes,
    }


def iso(moment: float) -> str:
    return utc(moment).isoformat()


def lines(items: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    encode = msgspec.json.Encoder().encode
    for item in items:
        yield encode(item) + b"\n"
