"""Rendering JSON:API documents as Klaviyo writes them: profile resources and error documents."""

from __future__ import annotations

import functools
import operator
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec

from localviyo.core.profile import LOCATION_KEYS, Profile
from localviyo.errors import APIError
from localviyo.revisions import Revision

MEDIA_TYPE = "application/vnd.api+json"
encode = msgspec.json.Encoder().encode

_RESPONSE_ATTRIBUTES = ("email", "phone_number", "external_id", "first_name", "last_name", "organization")
_RESPONSE_ATTRIBUTES_AFTER = ("title", "image")
# The plain attributes of a response, in order, by whether the revision has `locale`, and a getter of each.
_PLAIN = {
    True: (*_RESPONSE_ATTRIBUTES, "locale", *_RESPONSE_ATTRIBUTES_AFTER),
    False: _RESPONSE_ATTRIBUTES + _RESPONSE_ATTRIBUTES_AFTER,
}
_plain = {locale: operator.attrgetter(*names) for locale, names in _PLAIN.items()}


@functools.lru_cache(maxsize=4096)
def _second(value: int) -> str:
    return datetime.fromtimestamp(value, UTC).isoformat()


def timestamp(value: float | None) -> str | None:
    """Klaviyo's form: `2023-06-05T14:49:54+00:00` (whole seconds, explicit offset)."""
    return None if value is None else _second(int(value))


def resource_path(base_url: str, revision: Revision, *segments: str) -> str:
    path = base_url + "/api/" + "/".join(segments)
    return path + "/" if revision.trailing_slash else path


def _subscriptions(profile: Profile, revision: Revision) -> dict[str, Any]:
    sms: dict[str, Any] | None = {
        "can_receive_sms_marketing": False,
        "consent": "NEVER_SUBSCRIBED",
        "consent_timestamp": None,
        "method": None,
        "method_detail": None,
        "last_updated": None,
    }
    if revision.sms_marketing_needs_consent_record:
        sms = None
    return {
        "email": {
            "marketing": {
                "can_receive_email_marketing": profile.email is not None,
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
        },
        "sms": {"marketing": sms},
    }


PREDICTIVE_ANALYTICS_KEYS = (
    "historic_clv",
    "predicted_clv",
    "total_clv",
    "historic_number_of_orders",
    "predicted_number_of_orders",
    "average_days_between_orders",
    "average_order_value",
    "churn_probability",
    "expected_date_of_next_order",
)


def location_attributes(location: dict[str, Any]) -> dict[str, Any]:
    """Every key of Klaviyo's location, in its order; null where the profile has none."""
    return {key: location.get(key) for key in LOCATION_KEYS}


def profile_attributes(profile: Profile, revision: Revision, additional: Iterable[str] = ()) -> dict[str, Any]:
    names = _PLAIN[revision.has_locale]
    attributes: dict[str, Any] = dict(zip(names, _plain[revision.has_locale](profile), strict=True))
    attributes["created"] = timestamp(profile.created)
    attributes["updated"] = timestamp(profile.updated)
    attributes["last_event_date"] = timestamp(profile.last_event_date)
    attributes["location"] = location_attributes(profile.location)
    attributes["properties"] = profile.properties
    if "subscriptions" in additional:
        attributes["subscriptions"] = _subscriptions(profile, revision)
    if "predictive_analytics" in additional:
        attributes["predictive_analytics"] = dict.fromkeys(PREDICTIVE_ANALYTICS_KEYS)
    return attributes


# Keys that Klaviyo's schemas require in nested objects: a sparse fieldset that selects part of such an
# object keeps them, so the document still validates (and typed SDKs can still read it).
_REQUIRED_KEYS = {
    ("subscriptions", "email", "marketing"): ("can_receive_email_marketing", "consent"),
    ("subscriptions", "sms", "marketing"): ("can_receive_sms_marketing", "consent"),
}


def select_fields(attributes: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """Sparse fieldsets: `email`, `location.city`, `subscriptions.email.marketing.consent`."""
    selected: dict[str, Any] = {}
    for name in fields:
        source: Any = attributes
        target = selected
        parts = name.split(".")
        for depth, part in enumerate(parts):
            if not isinstance(source, dict) or part not in source:
                break
            value = source[part]
            if depth == len(parts) - 1 or not isinstance(value, dict):
                target[part] = value  # a null parent stands for all of its children
                break
            target = target.setdefault(part, {})
            source = value
    for path, keys in _REQUIRED_KEYS.items():
        chosen, full = _at(selected, path), _at(attributes, path)
        if isinstance(chosen, dict) and isinstance(full, dict):
            for key in keys:
                chosen.setdefault(key, full[key])
    return selected


def _at(document: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = document
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def profile_resource(
    profile_id: str,
    *,
    base_url: str,
    revision: Revision,
    attributes: dict[str, Any],
    relationship_data: bool,
) -> dict[str, Any]:
    names = ["lists", "segments"]
    if revision.push_tokens_relationship:
        names.append("push-tokens")
    relationships: dict[str, Any] = {}
    for name in names:
        relationship: dict[str, Any] = {}
        if relationship_data:
            relationship["data"] = []
        relationship["links"] = {
            "self": resource_path(base_url, revision, "profiles", profile_id, "relationships", name),
            "related": resource_path(base_url, revision, "profiles", profile_id, name),
        }
        relationships[name] = relationship
    return {
        "type": "profile",
        "id": profile_id,
        "attributes": attributes,
        "relationships": relationships,
        "links": {"self": resource_path(base_url, revision, "profiles", profile_id)},
    }


# Rendering a profile is on every hot path, and all of a resource but its id and attributes is the same
# for every profile of a revision and base URL. That part is encoded once, with stand-ins for the two,
# and a resource is then the pieces joined around the profile's own.
_ID = uuid.uuid4().hex
_ATTRIBUTES = uuid.uuid4().hex


@functools.lru_cache(maxsize=64)
def _resource_template(
    base_url: str, revision: Revision, relationship_data: bool
) -> tuple[list[bytes], list[bytes]] | None:
    if _ID in base_url or _ATTRIBUTES in base_url:
        return None  # a stand-in would be ambiguous (it is random per process: only ever by design)
    document = profile_resource(
        _ID, base_url=base_url, revision=revision, attributes={}, relationship_data=relationship_data
    )
    document["attributes"] = _ATTRIBUTES
    head, tail = encode(document).split(encode(_ATTRIBUTES))
    return head.split(_ID.encode()), tail.split(_ID.encode())


def encode_profile_resource(
    profile_id: str,
    *,
    base_url: str,
    revision: Revision,
    attributes: dict[str, Any] | bytes,
    relationship_data: bool,
) -> bytes:
    """`encode(profile_resource(...))`, byte for byte, at a fraction of the cost; `attributes` may come
    encoded already (encode_attributes)."""
    template = _resource_template(base_url, revision, relationship_data)
    if template is None:
        document = profile_resource(
            profile_id,
            base_url=base_url,
            revision=revision,
            attributes=msgspec.json.decode(attributes) if isinstance(attributes, bytes) else attributes,
            relationship_data=relationship_data,
        )
        return encode(document)
    head, tail = template
    escaped = encode(profile_id)[1:-1]
    encoded = attributes if isinstance(attributes, bytes) else encode(attributes)
    return escaped.join(head) + encoded + escaped.join(tail)


# The attributes of a profile with neither a sparse fieldset nor additional fields, which is nearly every
# profile rendered, encoded from structs of the response's shape: the same bytes as `profile_attributes`
# encoded (tests/test_jsonapi.py holds them equal), in about half the time.
_Location = msgspec.defstruct("_Location", [(key, Any, None) for key in LOCATION_KEYS])
_TAIL = ("created", "updated", "last_event_date", "location", "properties")
_Attributes = {locale: msgspec.defstruct("_Attributes", [*names, *_TAIL]) for locale, names in _PLAIN.items()}


def _location(location: dict[str, Any]) -> Any:
    try:
        return _Location(**location)
    except TypeError:  # a key outside Klaviyo's location (none is stored so; kept safe all the same)
        return location_attributes(location)


def encode_attributes(profile: Profile, revision: Revision) -> bytes:
    """`encode(profile_attributes(profile, revision))`, byte for byte."""
    p, locale = profile, revision.has_locale
    tail = (timestamp(p.created), timestamp(p.updated), timestamp(p.last_event_date), _location(p.location))
    return encode(_Attributes[locale](*_plain[locale](p), *tail, p.properties))


def error_object(error: APIError, new_id: Callable[[], str]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": new_id(),
        "status": error.status,
        "code": error.code,
        "title": error.title,
        "detail": error.detail,
    }
    if error.pointer is not None:
        item["source"] = {"pointer": error.pointer}
    elif error.parameter is not None:
        item["source"] = {"parameter": error.parameter}
    links, meta = error.error_links(), error.error_meta()
    if links is not None:
        item["links"] = links
    if meta is not None:
        item["meta"] = meta
    return item


def error_document(errors: Iterable[APIError], new_id: Callable[[], str]) -> bytes:
    return encode({"errors": [error_object(error, new_id) for error in errors]})
