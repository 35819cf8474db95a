"""The profile: what we store, and which of its fields identify it."""

from __future__ import annotations

from typing import Any

import msgspec

# Order as in Klaviyo's response schema; `locale` appears only for revisions that have it.
LOCATION_KEYS = (
    "address1",
    "address2",
    "city",
    "country",
    "latitude",
    "longitude",
    "region",
    "zip",
    "timezone",
    "ip",
)
STRING_ATTRIBUTES = (
    "email",
    "phone_number",
    "external_id",
    "anonymous_id",
    "first_name",
    "last_name",
    "organization",
    "locale",
    "title",
    "image",
)
# Identifiers in priority order: the first one that collides names the duplicate profile.
IDENTIFIERS = ("email", "phone_number", "external_id", "anonymous_id", "kx")


class Profile(msgspec.Struct, kw_only=True):
    id: str
    email: str | None = None
    phone_number: str | None = None
    external_id: str | None = None
    anonymous_id: str | None = None
    kx: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    organization: str | None = None
    locale: str | None = None
    title: str | None = None
    image: str | None = None
    location: dict[str, Any] = msgspec.field(default_factory=dict)
    properties: dict[str, Any] = msgspec.field(default_factory=dict)
    created: float = 0.0
    updated: float = 0.0
    last_event_date: float | None = None

    def has_identifier(self) -> bool:
        return (
            self.email is not None
            or self.phone_number is not None
            or self.external_id is not None
            or self.anonymous_id is not None
            or self.kx is not None
        )  # IDENTIFIERS, spelled out: this runs on every write

    def same_content(self, other: Profile) -> bool:
        """Equal but for timestamps: an update that leaves this true is a no-op and keeps `updated`."""
        return msgspec.structs.replace(other, created=self.created, updated=self.updated) == self


def identifier_keys(profile: Profile, *, external_id_unique: bool = True) -> dict[str, str]:
    """The values that must be unique per account, normalised for comparison.

    Email compares case-insensitively (stored as given). external_id takes part only when configured to
    be unique, since Klaviyo's docs say it is "not involved in profile merging".
    """
    keys: dict[str, str] = {}
    if profile.email is not None:
        keys["email"] = profile.email.lower()
    if profile.phone_number is not None:
        keys["phone_number"] = profile.phone_number
    if profile.external_id is not None and external_id_unique:
        keys["external_id"] = profile.external_id
    if profile.anonymous_id is not None:
        keys["anonymous_id"] = profile.anonymous_id
    if profile.kx is not None:
        keys["kx"] = profile.kx
    return keys
