"""Applying `Changes` to a profile: the whole of Update Profile's write semantics.

- An attribute present in the request is set; `null` clears it; an absent one is kept.
- `location` changes key by key; `location: null` clears every key.
- `properties` merge into the stored ones key by key at the top level (a nested object is replaced whole).
- Then `meta.patch_properties`, in this order: `unset`, `append`, `unappend`. Klaviyo does not document
  the order; this one lets a request replace a list (`unset` + `append`) in one call.
"""

from __future__ import annotations

from typing import Any

import msgspec

from localviyo.core.document import Changes
from localviyo.core.profile import Profile


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1 (though Python says it is), at any depth; 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    return bool(a == b)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def apply_changes(profile: Profile, changes: Changes) -> Profile:
    location = {} if changes.clear_location else dict(profile.location)
    for key, value in changes.location.items():
        if value is None:
            location.pop(key, None)
        else:
            location[key] = value
    properties = {**profile.properties, **changes.properties}
    patch = changes.patch
    for key in patch.unset:
        properties.pop(key, None)
    for key, value in patch.append.items():
        existing = properties.get(key)
        start = [] if existing is None else _as_list(existing)
        properties[key] = start + _as_list(value)
    for key, value in patch.unappend.items():
        existing = properties.get(key)
        if isinstance(existing, list):
            remove = _as_list(value)
            properties[key] = [item for item in existing if not any(_same(item, r) for r in remove)]
    return msgspec.structs.replace(profile, **changes.attributes, location=location, properties=properties)
