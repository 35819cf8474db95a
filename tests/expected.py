"""What tests expect of Klaviyo's documents: attribute order, timestamps, the error objects."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from client import Reply

# The attributes of a profile in a 2024-02-15 response, in the order of Klaviyo's schema.
ATTRIBUTE_ORDER = [
    "email",
    "phone_number",
    "external_id",
    "first_name",
    "last_name",
    "organization",
    "title",
    "image",
    "created",
    "updated",
    "last_event_date",
    "location",
    "properties",
]


def iso(seconds: float) -> str:
    """A timestamp as Klaviyo writes it: whole seconds, `+00:00`."""
    return datetime.fromtimestamp(int(seconds), UTC).isoformat()


def assert_error(reply: Reply, status: int, expected: dict[str, Any]) -> None:
    """The reply is one error object: `expected` plus a UUID `id` and the integer `status`."""
    assert reply.status == status, reply.text
    error = reply.error
    uuid.UUID(error["id"])
    assert reply.json() == {"errors": [{"id": error["id"], "status": status, **expected}]}


def not_found(profile_id: str) -> dict[str, Any]:
    return {
        "code": "not_found",
        "title": "Not found.",
        "detail": f"A profile with id {profile_id} does not exist.",
        "source": {"pointer": "/data/"},
    }


def duplicate(profile_id: str) -> dict[str, Any]:
    return {
        "code": "duplicate_profile",
        "title": "Conflict.",
        "detail": "A profile already exists with one of these identifiers.",
        "source": {"pointer": "/data/attributes"},
        "links": {},
        "meta": {"duplicate_profile_id": profile_id},
    }


def server_error() -> dict[str, Any]:
    """A 500: the same words whatever went wrong, and nothing of it."""
    return {"code": "error", "title": "A server error occurred.", "detail": "A server error occurred."}


def invalid(detail: str, pointer: str) -> dict[str, Any]:
    """A document-level 400: `meta` but no `links`."""
    return {"code": "invalid", "title": "Invalid input.", "detail": detail, "source": {"pointer": pointer}, "meta": {}}


def invalid_attribute(detail: str, pointer: str) -> dict[str, Any]:
    """A 400 about one attribute: both `links` and `meta`."""
    return {**invalid(detail, pointer), "links": {}}


def conflict(detail: str, pointer: str) -> dict[str, Any]:
    """A 409 `conflict` (a resource object of the wrong type or id): both `links` and `meta`."""
    return {
        "code": "conflict",
        "title": "Conflict.",
        "detail": detail,
        "source": {"pointer": pointer},
        "links": {},
        "meta": {},
    }
