"""The two ceilings localviyo is measured against, served by the same HTTP server as localviyo (one process).

- `http_app`: a bare ASGI app that reads the request and answers a fixed 1.5 KB JSON document, whatever
  was asked: the most the HTTP stack can serve.
- `storage_app` (a factory: `BENCH_REF_DB`, `BENCH_REF_ACCOUNT`): a bare ASGI app that does by hand what
  localviyo's storage path must do, on the same SQLite file with the same settings (one connection, WAL,
  synchronous NORMAL, `BEGIN IMMEDIATE` around every read-modify-write), and nothing else: no routing
  table, no key check, no validation, no JSON:API rendering.
    PATCH /api/profiles/{id}/       decode the body with msgspec; BEGIN IMMEDIATE; SELECT body; merge
                                    attributes, location, properties and patch_properties.append;
                                    UPDATE body, updated; COMMIT; answer the new body
    GET   /api/profiles/{id}/       SELECT body by (account, id)
    GET   /api/profiles/?filter=equals(email,"…")   SELECT body by (account, lowercased email)
    GET   /api/profiles/?after=ID   the 100 profiles after ID in id order (a keyset page)

Run them as `python -m bench.refserver bench.references:http_app --port N` and
`BENCH_REF_DB=… BENCH_REF_ACCOUNT=… python -m bench.refserver --factory bench.references:storage_app --port N`
(bench/refserver.py: localviyo's own HTTP server, or uvicorn with `--uvicorn`).
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote

import msgspec

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MEDIA_TYPE = b"application/vnd.api+json"
PREFIX = "/api/profiles/"
_decode = msgspec.json.decode
_encode = msgspec.json.encode
_EMAIL = re.compile(r'equals\(email,["\']([^"\']*)["\']\)')


def _fixed_document() -> bytes:
    """A Get Profile response of about 1.5 KB."""
    attributes = {
        "email": "sarah.mason@klaviyo-demo.com",
        "phone_number": "+15005550006",
        "external_id": "63f64a2b-c6bf-40c7-b81f-bed08162edbe",
        "first_name": "Sarah",
        "last_name": "Mason",
        "organization": "Klaviyo Demo Outfitters",
        "title": "Regional Manager",
        "image": "https://images.pexels.com/photos/3760854/pexels-photo-3760854.jpeg",
        "created": "2023-11-14T22:13:20+00:00",
        "updated": "2024-03-01T12:00:00+00:00",
        "last_event_date": None,
        "location": {
            "address1": "89 E 42nd St",
            "address2": "1st floor",
            "city": "New York",
            "country": "United States",
            "latitude": "40.7128",
            "longitude": "-74.0060",
            "region": "NY",
            "zip": "10017",
            "timezone": "America/New_York",
            "ip": "203.0.113.42",
        },
        "properties": {
            "plan": "gold",
            "newsletter": True,
            "lifetime_orders": 17,
            "favorite_categories": ["shoes", "outerwear", "accessories"],
            "loyalty": {"points": 4210, "tier": "gold", "since": "2021-04-01"},
            "viewed_skus": ["SKU-1001", "SKU-2044", "SKU-3120"],
        },
    }
    profile_id = "01HF7YAT00JEWWKGV42XRXVH0V"
    link = f"http://127.0.0.1/api/profiles/{profile_id}/"
    document = {
        "data": {
            "type": "profile",
            "id": profile_id,
            "attributes": attributes,
            "relationships": {
                "lists": {"data": [], "links": {"self": f"{link}relationships/lists/", "related": f"{link}lists/"}},
                "segments": {
                    "data": [],
                    "links": {"self": f"{link}relationships/segments/", "related": f"{link}segments/"},
                },
            },
            "links": {"self": link},
        }
    }
    body = _encode(document)
    return body + b" " * max(0, 1536 - len(body))  # exactly 1.5 KB: JSON allows trailing whitespace


FIXED_DOCUMENT = _fixed_document()


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", MEDIA_TYPE), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


async def http_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ceiling of the HTTP stack: read the request, answer a fixed 1.5 KB JSON."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    await _read_body(receive)
    await _respond(send, 200, FIXED_DOCUMENT)


class StorageReference:
    """The ceiling of the storage path: the same SQLite work as localviyo, by hand, and nothing else."""

    def __init__(self, path: str, account_id: str) -> None:
        self.account_id = account_id
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute("PRAGMA foreign_keys = ON")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        path: str = scope["path"]
        if path.startswith(PREFIX) and len(path) > len(PREFIX):
            profile_id = path[len(PREFIX) :].rstrip("/")
            if scope["method"] == "PATCH":
                status, answer = self.update(profile_id, body)
            else:
                status, answer = self.get(profile_id)
        else:
            status, answer = self.listing(unquote(scope["query_string"].decode("latin-1")))
        await _respond(send, status, answer)

    def get(self, profile_id: str) -> tuple[int, bytes]:
        row = self.db.execute(
            "SELECT body FROM profiles WHERE account_id = ? AND id = ?", (self.account_id, profile_id)
        ).fetchone()
        return (404, b"{}") if row is None else (200, b'{"data":' + row[0] + b"}")

    def update(self, profile_id: str, body: bytes) -> tuple[int, bytes]:
        data = _decode(body)["data"]
        attributes: dict[str, Any] = data.get("attributes") or {}
        patch: dict[str, Any] = (data.get("meta") or {}).get("patch_properties") or {}
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(
                "SELECT body FROM profiles WHERE account_id = ? AND id = ?", (self.account_id, profile_id)
            ).fetchone()
            if row is None:
                db.execute("ROLLBACK")
                return 404, b"{}"
            profile: dict[str, Any] = _decode(row[0])
            for name, value in attributes.items():
                if name == "location":
                    profile["location"] = {**profile["location"], **(value or {})}
                elif name == "properties":
                    profile["properties"] = {**profile["properties"], **(value or {})}
                else:
                    profile[name] = value
            properties = profile["properties"]
            for name in patch.get("unset") or ():
                properties.pop(name, None)
            for name, value in (patch.get("append") or {}).items():
                existing = properties.get(name)
                start = [] if existing is None else existing if isinstance(existing, list) else [existing]
                properties[name] = start + (value if isinstance(value, list) else [value])
            profile["updated"] = now = time.time()
            new = _encode(profile)
            db.execute(
                "UPDATE profiles SET body = ?, updated = ? WHERE account_id = ? AND id = ?",
                (new, now, self.account_id, profile_id),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return 200, b'{"data":' + new + b"}"

    def listing(self, query: str) -> tuple[int, bytes]:
        if match := _EMAIL.search(query):
            rows = self.db.execute(
                "SELECT body FROM profiles WHERE account_id = ? AND email_key = ?",
                (self.account_id, match.group(1).lower()),
            ).fetchall()
        else:
            after = query.split("after=", 1)[1].split("&", 1)[0] if "after=" in query else ""
            rows = self.db.execute(
                "SELECT body FROM profiles WHERE account_id = ? AND id > ? ORDER BY id LIMIT 101",
                (self.account_id, after),
            ).fetchall()[:100]
        return 200, b'{"data":[' + b",".join(row[0] for row in rows) + b"]}"


def storage_app() -> StorageReference:
    """A factory (`--factory`): the store and account come from BENCH_REF_DB and BENCH_REF_ACCOUNT."""
    return StorageReference(os.environ["BENCH_REF_DB"], os.environ["BENCH_REF_ACCOUNT"])
