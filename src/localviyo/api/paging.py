"""`page[cursor]`, `page[size]` and the `links` of a collection.

Cursors are opaque to clients: base64 of the direction, the sort and the keyset position. Klaviyo's SDKs
are forgiving about where the cursor comes from, and so are we: a leading `=` (left over when an SDK cuts
the cursor out of a `next` link) is dropped, and a whole `next` link passed as the cursor is unpacked.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from localviyo.api.querystring import parse_query, unquote
from localviyo.api.request import Request
from localviyo.core.listing import Position, Sort
from localviyo.errors import Invalid
from localviyo.jsonapi import resource_path

DEFAULT_SIZE = 20
MAX_SIZE = 100
INVALID_SIZE = "page[size] must be an integer from 1 to {max}; got {value!r}."
INVALID_CURSOR = "Invalid page[cursor]: use the cursor of a links.next or links.prev of this listing."
CURSOR_OTHER_SORT = "This page[cursor] belongs to a listing sorted by {cursor_sort}, not by {sort}."


@dataclass(frozen=True, slots=True)
class Cursor:
    backwards: bool
    sort: str
    position: Position

    def encode(self) -> str:
        raw = json.dumps(["prev" if self.backwards else "next", self.sort, *self.position], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def page_size(request: Request) -> int:
    raw = request.query.get("page[size]")
    if raw is None:
        return DEFAULT_SIZE
    if not raw.strip().isdigit() or not 1 <= int(raw) <= MAX_SIZE:
        raise Invalid(INVALID_SIZE.format(max=MAX_SIZE, value=raw), parameter="page[size]")
    return int(raw)


def _unwrap(raw: str) -> str:
    for marker in ("page[cursor]=", "page%5Bcursor%5D=", "page%5bcursor%5d="):
        if marker in raw:
            raw = raw.split(marker, 1)[1].split("&", 1)[0]
            return unquote(raw)
    return raw


def page_cursor(request: Request, sort: Sort) -> Cursor | None:
    raw = request.query.get("page[cursor]")
    if raw is None or raw == "":
        return None
    text = _unwrap(raw.removeprefix("="))
    try:
        decoded = json.loads(base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4)))
        direction, cursor_sort, value, profile_id = decoded
        if direction not in ("next", "prev") or not isinstance(profile_id, str):
            raise ValueError(direction)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise Invalid(INVALID_CURSOR, parameter="page[cursor]") from None
    if cursor_sort != str(sort):
        raise Invalid(CURSOR_OTHER_SORT.format(cursor_sort=cursor_sort, sort=sort), parameter="page[cursor]")
    return Cursor(direction == "prev", cursor_sort, (value, profile_id))


def links(request: Request, sort: Sort, next_: Position | None, prev: Position | None) -> dict[str, Any]:
    base = resource_path(request.base_url, request.revision, "profiles")
    kept: list[tuple[str, str]] | None = None

    def link(position: Position | None, backwards: bool) -> str | None:
        nonlocal kept
        if position is None:
            return None
        if kept is None:  # the other parameters, in their order, once, and only when a link needs them
            pairs = parse_query(request.query_string)
            kept = [(name, value) for name, value in pairs if name != "page[cursor]"]
        cursor = Cursor(backwards, str(sort), position).encode()
        return f"{base}?{urlencode([*kept, ('page[cursor]', cursor)])}"

    query = request.query_string
    return {"self": f"{base}?{query}" if query else base, "next": link(next_, False), "prev": link(prev, True)}
