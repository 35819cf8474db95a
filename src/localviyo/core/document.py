"""Reading a profile request document into `Changes`, with Klaviyo's error for every problem found.

Validation collects every problem in the document and raises them together, each pointing at its place
(`/data/attributes/email`), as Klaviyo's mobile SDKs decode `source.pointer` to learn which field to
drop.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from localviyo.core.profile import LOCATION_KEYS, STRING_ATTRIBUTES
from localviyo.errors import APIError, Conflict, Errors, Invalid, InvalidAttribute
from localviyo.revisions import Revision

INVALID_PAYLOAD = "The payload provided in the request is invalid."
REQUIRED = "This field is required."
NOT_A_STRING = "Not a valid string."
NOT_A_NUMBER = "A valid number is required."
NOT_AN_OBJECT = 'Expected a dictionary of items but got type "{type}".'
INVALID_EMAIL = "Invalid email address"
INVALID_PHONE = "Invalid phone number format (Example of a valid format: +12345678901)"
INVALID_UNSET = "Unset must be a string or an array of strings (the property keys to unset)."
NO_IDENTIFIER = "One or more identifiers is required"
MISSING_ID = "The resource identifier object must contain an 'id' member"
WRONG_TYPE = (
    "The resource object's type ({got}) is not the type that constitute the collection represented by "
    "the endpoint ({expected})."
)
UNKNOWN_FIELD = "'{name}' is not a valid field for the resource '{resource}'."
WRONG_ID = "The resource object's id ({got}) does not match url's lookup id ({expected})"

EMAIL_MAX_LENGTH = 100
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s.\x00-\x1f\x7f]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CONTROL_IN_IDENTIFIER = "Identifiers may not contain control characters."
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")  # ASCII digits only: \d would take any script's


@dataclass(slots=True)
class PatchProperties:
    append: dict[str, Any] = field(default_factory=dict)
    unappend: dict[str, Any] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Changes:
    """What a request asks to change: only keys present in the document appear."""

    attributes: dict[str, str | None] = field(default_factory=dict)
    clear_location: bool = False
    location: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    patch: PatchProperties = field(default_factory=PatchProperties)


@dataclass(frozen=True, slots=True)
class DocumentRules:
    """The [INF] choices a deployment may change."""

    mismatch_status: int = 409  # data.type / data.id not matching the endpoint: 409 (JSON:API) or 400


def type_name(value: Any) -> str:
    return {dict: "dict", list: "list", str: "str", bool: "bool", int: "int", float: "float"}.get(
        type(value), "NoneType"
    )


def valid_email(value: str) -> bool:
    return len(value) <= EMAIL_MAX_LENGTH and _EMAIL.fullmatch(value) is not None


def valid_phone(value: str) -> bool:
    if _E164.fullmatch(value) is None:
        return False
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse(value, None)))
    except phonenumbers.NumberParseException:
        return False


def _raise(errors: list[APIError]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise Errors(errors)


def _data(document: Any, rules: DocumentRules, expected_type: str = "profile") -> dict[str, Any]:
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        raise Invalid(INVALID_PAYLOAD, pointer="/data")
    kind = data.get("type")
    if kind is None:
        raise Invalid(REQUIRED, pointer="/data/type")
    if kind != expected_type:
        cls = Conflict if rules.mismatch_status == 409 else Invalid
        raise cls(WRONG_TYPE.format(got=kind, expected=expected_type), pointer="/data/type")
    return data


def _object(value: Any, pointer: str, errors: list[APIError]) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    errors.append(InvalidAttribute(NOT_AN_OBJECT.format(type=type_name(value)), pointer=pointer))
    return None


def _attributes(data: dict[str, Any], revision: Revision, allowed: frozenset[str], errors: list[APIError]) -> Changes:
    attributes = data.get("attributes")
    if attributes is None:
        raise Invalid(REQUIRED, pointer="/data/attributes")
    if not isinstance(attributes, dict):
        raise Invalid(NOT_AN_OBJECT.format(type=type_name(attributes)), pointer="/data/attributes")
    changes = Changes()
    known = _known_attributes(allowed, revision)
    for name, value in attributes.items():
        if name not in known:
            detail: str | None = UNKNOWN_FIELD.format(name=name, resource="profile")
        elif name in _NESTED:
            continue
        elif value is None:
            detail = None
        elif not isinstance(value, str):
            detail = NOT_A_STRING
        else:
            check = _CHECKS.get(name)
            detail = None if check is None else check(value)
        if detail is None:
            changes.attributes["kx" if name == "_kx" else name] = value
        else:
            errors.append(InvalidAttribute(detail, pointer=f"/data/attributes/{name}"))
    if "location" in attributes:
        location = _object(attributes["location"], "/data/attributes/location", errors)
        changes.clear_location = attributes["location"] is None
        for key, value in (location or {}).items():
            if key not in _LOCATION_KEYS:
                continue  # unknown location keys are ignored (unknown attributes are not: see above)
            if key in _COORDINATES:
                detail = None if _coordinate(value) else NOT_A_NUMBER
            else:
                detail = None if value is None or isinstance(value, str) else NOT_A_STRING
            if detail is None:
                changes.location[key] = value
            else:
                errors.append(InvalidAttribute(detail, pointer=f"/data/attributes/location/{key}"))
    if "properties" in attributes:
        # `properties: null` changes nothing: keys are removed only through patch_properties.unset.
        changes.properties = _object(attributes["properties"], "/data/attributes/properties", errors) or {}
    return changes


@functools.lru_cache(maxsize=64)
def _known_attributes(allowed: frozenset[str], revision: Revision) -> frozenset[str]:
    known = set(allowed)
    if not revision.has_locale:
        known.discard("locale")
    if not revision.has_anonymous_id:
        known.discard("anonymous_id")
    return frozenset(known)


def _check_email(value: str) -> str | None:
    return None if valid_email(value) else INVALID_EMAIL


def _check_phone(value: str) -> str | None:
    return None if valid_phone(value) else INVALID_PHONE


def _check_identifier(value: str) -> str | None:
    return CONTROL_IN_IDENTIFIER if _CONTROL.search(value) else None


_NESTED = frozenset({"location", "properties"})
_LOCATION_KEYS = frozenset(LOCATION_KEYS)  # looked up for every key of every location given
_COORDINATES = frozenset({"latitude", "longitude"})
# What a string attribute must also be, beyond a string: the error detail if it is not, else None.
_CHECKS: dict[str, Callable[[str], str | None]] = {
    "email": _check_email,
    "phone_number": _check_phone,
    "external_id": _check_identifier,
    "anonymous_id": _check_identifier,
    "_kx": _check_identifier,
}


def _coordinate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            return math.isfinite(float(value))
        except ValueError:
            return False
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    return False


def _patch_properties(data: dict[str, Any], changes: Changes, errors: list[APIError]) -> None:
    meta = _object(data.get("meta"), "/data/meta", errors)
    patch = _object((meta or {}).get("patch_properties"), "/data/meta/patch_properties", errors)
    if not patch:
        return
    # Klaviyo points at /data/attributes/meta/..., though meta sits at /data/meta. Reproduced as seen.
    base = "/data/attributes/meta/patch_properties"
    changes.patch.append = _object(patch.get("append"), f"{base}/append", errors) or {}
    changes.patch.unappend = _object(patch.get("unappend"), f"{base}/unappend", errors) or {}
    unset = patch.get("unset")
    if isinstance(unset, str):
        changes.patch.unset = [unset]
    elif isinstance(unset, list) and all(isinstance(key, str) for key in unset):
        changes.patch.unset = unset
    elif unset is not None:
        errors.append(Invalid(INVALID_UNSET, pointer=f"{base}/unset"))


CREATE_ATTRIBUTES = frozenset(STRING_ATTRIBUTES) - {"anonymous_id"} | {"location", "properties"}
UPDATE_ATTRIBUTES = frozenset(STRING_ATTRIBUTES) | {"location", "properties"}
IMPORT_ATTRIBUTES = UPDATE_ATTRIBUTES | {"_kx"}
IMPORT_IDENTIFIERS = ("email", "phone_number", "external_id", "anonymous_id", "kx")
MERGE_ONE_SOURCE = "Exactly one source profile is accepted: relationships.profiles.data must hold one profile."
MERGE_SAME = "The source profile must differ from the destination profile."


def parse_create(document: Any, revision: Revision, rules: DocumentRules) -> Changes:
    data = _data(document, rules)
    errors: list[APIError] = []
    changes = _attributes(data, revision, CREATE_ATTRIBUTES, errors)
    _raise(errors)
    # A null in a create body means "not set".
    changes.attributes = {k: v for k, v in changes.attributes.items() if v is not None}
    changes.location = {k: v for k, v in changes.location.items() if v is not None}
    if not any(changes.attributes.get(name) for name in ("email", "phone_number", "external_id")):
        raise Invalid(NO_IDENTIFIER, pointer="/data/attributes")
    return changes


def parse_update(document: Any, path_id: str, revision: Revision, rules: DocumentRules) -> Changes:
    data = _data(document, rules)
    if data.get("id") is None:
        raise Invalid(MISSING_ID, pointer="/data/id")
    if data["id"] != path_id:
        cls = Conflict if rules.mismatch_status == 409 else Invalid
        raise cls(WRONG_ID.format(got=data["id"], expected=path_id), pointer="/data/id")
    errors: list[APIError] = []
    changes = _attributes(data, revision, UPDATE_ATTRIBUTES, errors)
    _patch_properties(data, changes, errors)
    _raise(errors)
    return changes


def parse_import(document: Any, revision: Revision, rules: DocumentRules) -> tuple[str | None, Changes]:
    """create_or_update_profile: `data.id` optional; `_kx` and `anonymous_id` accepted (write-only)."""
    data = _data(document, rules)
    profile_id = data.get("id")
    errors: list[APIError] = []
    if profile_id is not None and not isinstance(profile_id, str):
        errors.append(Invalid(NOT_A_STRING, pointer="/data/id"))
    changes = _attributes(data, revision, IMPORT_ATTRIBUTES, errors)
    _patch_properties(data, changes, errors)
    _raise(errors)
    if profile_id is None and not any(changes.attributes.get(name) for name in IMPORT_IDENTIFIERS):
        raise Invalid(NO_IDENTIFIER, pointer="/data/attributes")
    return profile_id, changes


def parse_merge(document: Any, rules: DocumentRules) -> tuple[str, str]:
    """merge_profiles: (destination id, source id)."""
    data = _data(document, rules, expected_type="profile-merge")
    destination = data.get("id")
    if not isinstance(destination, str) or not destination:
        raise Invalid(MISSING_ID, pointer="/data/id")
    relationships = data.get("relationships")
    profiles = relationships.get("profiles") if isinstance(relationships, dict) else None
    sources = profiles.get("data") if isinstance(profiles, dict) else None
    pointer = "/data/relationships/profiles/data"
    if not isinstance(sources, list) or len(sources) != 1 or not isinstance(sources[0], dict):
        raise Invalid(MERGE_ONE_SOURCE, pointer=pointer)
    source = sources[0]
    if source.get("type") != "profile":
        cls = Conflict if rules.mismatch_status == 409 else Invalid
        detail = WRONG_TYPE.format(got=source.get("type"), expected="profile")
        raise cls(detail, pointer=f"{pointer}/0/type")
    if not isinstance(source.get("id"), str) or not source["id"]:
        raise Invalid(MISSING_ID, pointer=f"{pointer}/0/id")
    if source["id"] == destination:
        raise Invalid(MERGE_SAME, pointer=f"{pointer}/0/id")
    return destination, source["id"]
