"""Hostile input against a real `localviyo serve` process: every malformed request gets a 4xx, in bounded
time and memory, and changes nothing in the store.

Requests go over a raw socket, so bytes that httpx would refuse to send (latin-1 and control characters in
headers, 50 KB query strings, lying Content-Length) reach the server as written. After each request the
whole `profiles` table is compared with its state before, byte for byte, and the server's peak resident
memory (VmHWM in /proc) is held under a bound.

A few inputs are odd but valid (duplicate keys, unknown top-level members, a 100,000-character name, a
10,000-key property map within the 100 KB limit): those must be accepted whole and stored exactly as the
response says, or nothing at all.

Requests that the HTTP parser itself may refuse (a control character in a header value, raw bytes
outside ASCII in the path, a huge header or URL) never reach the application then; the HTTP server answers
them with a plain-text 400. Those cases are marked `http_layer` and accept that answer as well as a
JSON:API error (httptools sets no limit on a URL's length: a 700 KB one reaches the app, which refuses it).
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from backends import postgres_schema
from processes import first_run_key, serving

REVISION = b"2024-02-15"
TIME_LIMIT = 5.0  # seconds for any one hostile request (they take milliseconds; CI machines vary)
MEMORY_LIMIT_KB = 256 * 1024  # growth of the server's peak RSS over its RSS after start-up
MAX_BODY = 100 * 1024


@dataclass
class RawReply:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(url: str, data: bytes, timeout: float = 15.0) -> RawReply:
    """Send `data` as is on a fresh connection; read one response (the request says Connection: close)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    started = time.monotonic()
    received = b""
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)  # the server may answer (413) and close before reading everything
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
            head, separator, body = received.partition(b"\r\n\r\n")
            if separator:
                length = _content_length(head)
                if length is not None and len(body) >= length:
                    break
    elapsed = time.monotonic() - started
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines or not lines[0].startswith(b"HTTP/1.1 "):
        return RawReply(0, {}, received, elapsed)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return RawReply(int(lines[0].split()[1]), headers, body, elapsed)


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return None


def build(
    method: str,
    target: bytes,
    *,
    key: str | None,
    body: bytes | None = None,
    revision: bytes | None = REVISION,
    content_type: bytes | None = b"application/json",
    extra: tuple[bytes, ...] = (),
    authorization: bytes | None = None,
) -> bytes:
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    if authorization is not None:
        lines.append(b"Authorization: " + authorization)
    elif key is not None:
        lines.append(b"Authorization: Klaviyo-API-Key " + key.encode())
    if revision is not None:
        lines.append(b"revision: " + revision)
    if body is not None:
        if content_type is not None:
            lines.append(b"Content-Type: " + content_type)
        if not any(line.lower().startswith((b"content-length:", b"transfer-encoding:")) for line in extra):
            lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.extend(extra)
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


def snapshot(database_url: str) -> list[tuple[Any, ...]]:
    """Every profile row, every column, in a fixed order: two equal snapshots mean nothing changed."""
    columns = "account_id, id, email_key, phone_number_key, external_id, external_id_key, anonymous_id_key, kx_key"
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            rows = db.execute(f"SELECT {columns}, created, updated, body FROM profiles ORDER BY 1, 2").fetchall()
        db.close()
        return [tuple(row) for row in rows]
    import psycopg

    with psycopg.connect(database_url) as pg:
        sql = f"SELECT {columns}, created, updated, body::text FROM profiles ORDER BY 1, 2"
        return [tuple(row) for row in pg.execute(sql).fetchall()]


def _status_kb(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field_name} for {pid}")


@dataclass
class Target:
    url: str
    database_url: str
    key: str
    pid: int
    profile_id: str  # a profile every hostile write aims at
    other_id: str  # a second profile, for path tricks
    baseline_rss_kb: int

    def send(self, data: bytes) -> RawReply:
        return raw_request(self.url, data)

    def alive(self) -> None:
        reply = self.send(build("GET", f"/api/profiles/{self.profile_id}/".encode(), key=self.key))
        assert reply.status == 200, reply.body[:300]


def _create(url: str, key: str, attributes: dict[str, Any]) -> str:
    body = json.dumps({"data": {"type": "profile", "attributes": attributes}}).encode()
    reply = raw_request(url, build("POST", b"/api/profiles/", key=key, body=body))
    assert reply.status == 201, reply.body[:300]
    profile_id: str = reply.json()["data"]["id"]
    return profile_id


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    directory = tmp_path_factory.mktemp("hostile")
    database_url = f"sqlite:///{directory / 'localviyo.db'}"
    with serving(directory, "--database-url", database_url, "--rate-limits", "off") as served:
        key = first_run_key(served.stdout)
        profile_id = _create(served.url, key, {"email": "target@hostile.test", "first_name": "Original"})
        other_id = _create(served.url, key, {"email": "other@hostile.test", "first_name": "Other"})
        baseline = _status_kb(served.process.pid, "VmRSS")
        yield Target(served.url, database_url, key, served.process.pid, profile_id, other_id, baseline)
        peak = _status_kb(served.process.pid, "VmHWM")
        tried = len(HOSTILE) + len(ODD_BUT_VALID) + 1 + 2 * len(NUL_CASES)
        print(f"\nhostile input: {tried} inputs tried; server RSS {baseline} kB after start-up, peak {peak} kB")


def change_body(profile_id: str) -> bytes:
    """A valid update of the target: if a hostile request carrying it got through, the store would change."""
    document = {"data": {"type": "profile", "id": profile_id, "attributes": {"first_name": "Changed"}}}
    return json.dumps(document).encode()


def is_jsonapi_error(reply: RawReply) -> bool:
    if reply.headers.get("content-type") != "application/vnd.api+json":
        return False
    try:
        document = reply.json()
    except ValueError:
        return False
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list) or not errors:
        return False
    for item in errors:
        if not isinstance(item, dict):
            return False
        if not all(isinstance(item.get(name), str) for name in ("id", "code", "title", "detail")):
            return False
        if "status" in item and item["status"] != reply.status:
            return False
    return True


HTTP_LAYER_BODY = b"Invalid HTTP request received."


@dataclass(frozen=True)
class Hostile:
    name: str
    request: Any  # (Target) -> bytes
    statuses: tuple[int, ...] = (400,)
    http_layer: bool = False  # the HTTP parser may refuse it before the application sees it


def _post(body: bytes, **options: Any) -> Any:
    return lambda t: build("POST", b"/api/profiles/", key=t.key, body=body, **options)


def _create_doc(attributes: dict[str, Any]) -> bytes:
    return json.dumps({"data": {"type": "profile", "attributes": attributes}}).encode()


def _patch(t: Target, *, target: bytes | None = None, **options: Any) -> bytes:
    path = target if target is not None else f"/api/profiles/{t.profile_id}/".encode()
    return build("PATCH", path, key=t.key, body=change_body(t.profile_id), **options)


def _many_params(count: int) -> bytes:
    return b"&".join(b"p%d=%d" % (i, i) for i in range(count))


def _filter(expression: str) -> Any:
    # Parentheses, commas and quotes are legal in a query; bare, they keep 10,000 levels under the HTTP
    # parser's 64 KB limit on the request target.
    encoded = quote(expression, safe="(),'").encode()
    return lambda t: build("GET", b"/api/profiles/?filter=" + encoded, key=t.key)


def _nested_not(depth: int) -> str:
    return "not(" * depth + 'equals(email,"a@b.co")' + ")" * depth


def _nested_and(depth: int) -> str:
    return "and(" * depth + "equals(id,'x')" + ",equals(id,'y'))" * depth


DEEP_ARRAYS = b"[" * 10_000 + b"]" * 10_000
DEEP_OBJECTS = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
DEEP_IN_PROPERTIES = (
    b'{"data":{"type":"profile","attributes":{"email":"deep@hostile.test","properties":{"p":'
    + b"[" * 5_000
    + b"]" * 5_000
    + b"}}}}"
)
OVER_LIMIT = _create_doc({"email": "big@hostile.test", "properties": {"blob": "x" * (MAX_BODY + 10)}})
CHUNK = b"x" * 65536

HOSTILE: list[Hostile] = [
    # Bodies
    Hostile("not json", _post(b"{not json")),
    Hostile("truncated json", _post(b'{"data": {"type": "profile", "attributes": {"email": "t@hostile.test"')),
    Hostile("json array", _post(b"[1, 2, 3]")),
    Hostile("json string", _post(b'"profile"')),
    Hostile("not utf-8 in a string", _post(b'{"data":{"type":"profile","attributes":{"email":"\xff@hostile.test"}}}')),
    Hostile(
        "latin-1 body",
        _post(
            '{"data":{"type":"profile","attributes":{"email":"jose@hostile.test","first_name":"José"}}}'.encode(
                "latin-1"
            )
        ),
    ),
    Hostile("utf-16 body", _post(_create_doc({"email": "u16@hostile.test"}).decode().encode("utf-16"))),
    Hostile(
        "lone surrogate escape",
        _post(b'{"data":{"type":"profile","attributes":{"email":"s@hostile.test","first_name":"\\ud800"}}}'),
    ),
    Hostile("10,000 nested arrays", _post(DEEP_ARRAYS)),
    Hostile("10,000 nested objects", _post(DEEP_OBJECTS)),
    Hostile("5,000 nested arrays inside properties", _post(DEEP_IN_PROPERTIES)),
    Hostile(
        "10,000 nested arrays in an update",
        lambda t: build("PATCH", f"/api/profiles/{t.profile_id}/".encode(), key=t.key, body=DEEP_ARRAYS),
    ),
    Hostile("over 100 KB", _post(OVER_LIMIT), statuses=(413,)),
    Hostile(
        "over 100 KB chunked",
        lambda t: build(
            "POST",
            b"/api/profiles/",
            key=t.key,
            body=(b"10000\r\n" + CHUNK + b"\r\n") * 3 + b"0\r\n\r\n",
            extra=(b"Transfer-Encoding: chunked",),
        ),
        statuses=(413,),
    ),
    Hostile(
        "Content-Length of 100 GB, no body",
        lambda t: build("POST", b"/api/profiles/", key=t.key, body=b"", extra=(b"Content-Length: 100000000000",)),
        statuses=(413,),
    ),
    Hostile(
        "raw NUL byte in a string",
        _post(b'{"data":{"type":"profile","attributes":{"email":"n@hostile.test","first_name":"a\x00b"}}}'),
    ),
    Hostile("NUL in an email", _post(_create_doc({"email": "nul\u0000@hostile.test"}))),
    Hostile("NUL in an external_id", _post(_create_doc({"external_id": "ext\u0000id"}))),
    Hostile("enormous email", _post(_create_doc({"email": "a" * 90_000 + "@hostile.test"}))),
    Hostile(
        "enormous phone number", _post(_create_doc({"email": "p@hostile.test", "phone_number": "+1" + "5" * 90_000}))
    ),
    Hostile("enormous unknown attribute name", _post(_create_doc({"email": "u@hostile.test", "x" * 90_000: 1}))),
    Hostile(
        "NaN",
        _post(b'{"data":{"type":"profile","attributes":{"email":"nan@hostile.test","location":{"latitude":NaN}}}}'),
    ),
    Hostile(
        "5,000-digit integer",
        _post(
            b'{"data":{"type":"profile","attributes":{"email":"i@hostile.test","properties":{"n":'
            + b"9" * 5000
            + b"}}}}"
        ),
    ),
    # Headers
    Hostile("revision with a latin-1 byte", lambda t: _patch(t, revision=b"2024-02-15\xe9")),
    Hostile(
        "revision in full-width digits (UTF-8)",
        lambda t: _patch(t, revision="\uff12\uff10\uff12\uff14-\uff10\uff12-\uff11\uff15".encode()),
    ),
    Hostile("revision of 8 KB", lambda t: _patch(t, revision=b"2024-02-15" + b"9" * 8192)),
    Hostile(
        "Authorization with a latin-1 byte",
        lambda t: _patch(t, authorization=b"Klaviyo-API-Key \xe9" + t.key.encode()),
        statuses=(401,),
    ),
    Hostile(
        "Authorization with \\x01",
        lambda t: _patch(t, authorization=b"Klaviyo-API-Key " + t.key.encode() + b"\x01"),
        statuses=(400, 401),
        http_layer=True,
    ),
    Hostile(
        "Authorization with NUL",
        lambda t: _patch(t, authorization=b"Klaviyo-API-Key \x00" + t.key.encode()),
        statuses=(400, 401),
        http_layer=True,
    ),
    Hostile(
        "Authorization with DEL",
        lambda t: _patch(t, authorization=b"Klaviyo-API-Key " + t.key.encode() + b"\x7f"),
        statuses=(400, 401),
        http_layer=True,
    ),
    Hostile(
        "Authorization with an ANSI escape",
        lambda t: _patch(t, authorization=b"Klaviyo-API-Key \x1b[2J" + t.key.encode()),
        statuses=(400, 401),
        http_layer=True,
    ),
    Hostile(
        "Authorization of 60 KB",
        lambda t: _patch(t, authorization=b"Klaviyo-API-Key pk_" + b"a" * 60_000),
        statuses=(400, 401, 431),
        http_layer=True,
    ),
    Hostile(
        "Content-Type with a latin-1 byte",
        lambda t: _patch(t, content_type=b"application/json\xe9"),
        statuses=(415,),
    ),
    Hostile(
        "UTF-16 body declared as such",
        lambda t: build(
            "PATCH",
            f"/api/profiles/{t.profile_id}/".encode(),
            key=t.key,
            body=change_body(t.profile_id).decode().encode("utf-16"),
            content_type=b"application/json; charset=utf-16",
        ),
    ),
    # Query strings
    Hostile(
        "5,000 parameters on a listing", lambda t: build("GET", b"/api/profiles/?" + _many_params(5000), key=t.key)
    ),
    Hostile(
        "5,000 parameters on a get",
        lambda t: build("GET", f"/api/profiles/{t.profile_id}/?".encode() + _many_params(5000), key=t.key),
    ),
    Hostile(
        "5,000 parameters on an update",
        lambda t: _patch(t, target=f"/api/profiles/{t.profile_id}/?".encode() + _many_params(5000)),
    ),
    Hostile(
        "5,000 parameters on a create",
        lambda t: build(
            "POST",
            b"/api/profiles/?" + _many_params(5000),
            key=t.key,
            body=_create_doc({"email": "qs@hostile.test"}),
        ),
    ),
    Hostile(
        "100,000 parameters (700 KB of URL)",
        lambda t: build("GET", b"/api/profiles/?" + _many_params(100_000), key=t.key),
        statuses=(400, 414, 431),
        http_layer=True,
    ),
    Hostile(
        "fields[profile] of 60 KB",
        lambda t: build("GET", b"/api/profiles/?fields%5Bprofile%5D=" + b"x" * 60_000, key=t.key),
    ),
    # Paths
    Hostile(
        "percent-encoded slash and dots towards another profile",
        lambda t: _patch(t, target=f"/api/profiles/{t.profile_id}%2F..%2F{t.other_id}/".encode()),
        statuses=(404,),
    ),
    Hostile(
        "percent-encoded dots towards another route",
        lambda t: _patch(t, target=b"/api/profiles/..%2F..%2Fprofile-import/"),
        statuses=(404, 405),
    ),
    Hostile("id of percent-encoded dots", lambda t: _patch(t, target=b"/api/profiles/%2E%2E/"), statuses=(404, 409)),
    Hostile("id of an emoji", lambda t: _patch(t, target=b"/api/profiles/%F0%9F%98%80/"), statuses=(404, 409)),
    Hostile("id of invalid UTF-8", lambda t: _patch(t, target=b"/api/profiles/%FF%FE/"), statuses=(404, 409)),
    Hostile("id of NUL", lambda t: _patch(t, target=b"/api/profiles/%00/"), statuses=(404, 409)),
    Hostile("id of 8 KB", lambda t: _patch(t, target=b"/api/profiles/" + b"A" * 8192 + b"/"), statuses=(404, 409)),
    Hostile(
        "raw UTF-8 bytes in the path",
        lambda t: build("GET", "/api/profiles/😀/".encode(), key=t.key),
        statuses=(400, 404),
        http_layer=True,
    ),
    # Filters: a deep filter may be evaluated (200, matching nothing here) or refused (400); never a 5xx
    *[
        Hostile(f"filter: not() nested {n} deep", _filter(_nested_not(n)), statuses=(200, 400))
        for n in (10, 45, 100, 1_000, 10_000)
    ],
    *[
        Hostile(f"filter: and() nested {n} deep", _filter(_nested_and(n)), statuses=(200, 400))
        for n in (45, 100, 1_000, 2_000)
    ],
    Hostile("filter: 12,000 unclosed not(", _filter("not(" * 12_000)),
]


@pytest.mark.parametrize("case", HOSTILE, ids=[case.name for case in HOSTILE])
def test_hostile_request_is_refused_without_side_effect(target: Target, case: Hostile) -> None:
    before = snapshot(target.database_url)
    reply = target.send(case.request(target))
    after = snapshot(target.database_url)

    assert reply.status in case.statuses, (reply.status, reply.body[:500])
    if reply.status < 400:
        assert reply.json()["data"] == [], reply.body[:300]  # a read that matched nothing
    elif case.http_layer and reply.body == HTTP_LAYER_BODY:
        pass  # refused by the HTTP parser: the application never saw it
    else:
        assert is_jsonapi_error(reply), (reply.headers, reply.body[:500])
    assert reply.elapsed < TIME_LIMIT, f"{case.name}: {reply.elapsed:.2f}s"
    assert after == before, f"{case.name} changed the store"
    peak = _status_kb(target.pid, "VmHWM")
    assert peak - target.baseline_rss_kb < MEMORY_LIMIT_KB, f"peak RSS {peak} kB after {case.name}"
    target.alive()


def test_any_with_5000_values_is_answered_in_bounded_time(target: Target) -> None:
    values = ",".join(f"'{i}'" for i in range(5_000))
    reply = target.send(_filter(f"any(external_id,[{values}])")(target))
    assert reply.status in (200, 400), reply.body[:300]
    assert reply.elapsed < TIME_LIMIT
    if reply.status == 200:
        assert reply.json()["data"] == []
    else:
        assert is_jsonapi_error(reply)


# Odd but valid: accepted whole, stored exactly as answered.

ODD_BUT_VALID = (
    "duplicate keys",
    "duplicate data",
    "unknown top-level members",
    "100,000-character name",
    "10,000 keys",
)


def _stored(target: Target, profile_id: str) -> dict[str, Any]:
    reply = target.send(build("GET", f"/api/profiles/{profile_id}/".encode(), key=target.key))
    assert reply.status == 200, reply.body[:300]
    attributes: dict[str, Any] = reply.json()["data"]["attributes"]
    return attributes


def _accepted(target: Target, data: bytes, status: int = 201) -> dict[str, Any]:
    before = snapshot(target.database_url)
    reply = target.send(data)
    assert reply.status == status, reply.body[:500]
    assert reply.elapsed < TIME_LIMIT
    document: dict[str, Any] = reply.json()["data"]
    after = snapshot(target.database_url)
    changed = [row for row in after if row not in before]
    assert [row[1] for row in changed] == [document["id"]], "exactly the answered profile was written"
    assert _stored(target, document["id"]) == document["attributes"]
    return document


def test_duplicate_keys_the_last_one_wins(target: Target) -> None:
    """RFC 8259 leaves duplicate names to the parser; ours, like Python's json (Klaviyo's), keeps the last."""
    body = b'{"data":{"type":"profile","attributes":{"email":"first@hostile.test","email":"last@hostile.test"}}}'
    document = _accepted(target, build("POST", b"/api/profiles/", key=target.key, body=body))
    assert document["attributes"]["email"] == "last@hostile.test"

    twice = (
        b'{"data":{"type":"profile","attributes":{"email":"data1@hostile.test"}},'
        b'"data":{"type":"profile","attributes":{"email":"data2@hostile.test"}}}'
    )
    document = _accepted(target, build("POST", b"/api/profiles/", key=target.key, body=twice))
    assert document["attributes"]["email"] == "data2@hostile.test"

    profile_id = document["id"]
    update = (
        b'{"data":{"type":"profile","id":"' + profile_id.encode() + b'",'
        b'"attributes":{"first_name":"One","properties":{"k":1,"k":2},"first_name":"Two"}}}'
    )
    reply = target.send(build("PATCH", f"/api/profiles/{profile_id}/".encode(), key=target.key, body=update))
    assert reply.status == 200, reply.body[:300]
    attributes = reply.json()["data"]["attributes"]
    assert (attributes["first_name"], attributes["properties"]) == ("Two", {"k": 2})
    assert _stored(target, profile_id) == attributes


def test_unknown_top_level_members_are_ignored(target: Target) -> None:
    """JSON:API: implementations MUST ignore members they do not recognise; they must have no effect."""
    body = json.dumps(
        {
            "data": {"type": "profile", "attributes": {"email": "top@hostile.test"}},
            "attributes": {"first_name": "Smuggled"},
            "properties": {"smuggled": True},
            "meta": {"patch_properties": {"append": {"smuggled": 1}}},
            "included": [{"type": "profile", "id": target.profile_id, "attributes": {"first_name": "Smuggled"}}],
            "jsonapi": {"version": "1.0"},
        }
    ).encode()
    before = _stored(target, target.profile_id)
    document = _accepted(target, build("POST", b"/api/profiles/", key=target.key, body=body))
    assert document["attributes"]["first_name"] is None
    assert document["attributes"]["properties"] == {}
    assert _stored(target, target.profile_id) == before


def test_enormous_string_within_the_limit_is_stored_whole(target: Target) -> None:
    """Klaviyo documents no length limit for names or property values, only the 100 KB body."""
    name = "".join(string.ascii_letters[i % 52] for i in range(100_000))
    attributes = {"email": "long@hostile.test", "first_name": name, "properties": {"note": "é" * 500}}
    body = json.dumps({"data": {"type": "profile", "attributes": attributes}}, ensure_ascii=False).encode()
    assert len(body) <= MAX_BODY
    document = _accepted(target, build("POST", b"/api/profiles/", key=target.key, body=body))
    assert document["attributes"]["first_name"] == name


def test_property_map_of_10000_keys_within_the_limit_is_stored_whole(target: Target) -> None:
    alphabet = string.ascii_lowercase + string.digits
    keys = [alphabet[i // 36 // 36 % 36] + alphabet[i // 36 % 36] + alphabet[i % 36] for i in range(10_000)]
    properties = {key: index % 10 for index, key in enumerate(keys)}
    body = json.dumps(
        {"data": {"type": "profile", "attributes": {"email": "wide@hostile.test", "properties": properties}}},
        separators=(",", ":"),
    ).encode()
    assert len(body) <= MAX_BODY
    peak_before = _status_kb(target.pid, "VmHWM")
    document = _accepted(target, build("POST", b"/api/profiles/", key=target.key, body=body))
    assert document["attributes"]["properties"] == properties
    assert _status_kb(target.pid, "VmHWM") - peak_before < MEMORY_LIMIT_KB


# NUL characters: the same answer on every backend, never a 5xx.

NUL_WRITES: list[tuple[str, dict[str, Any]]] = [
    ("first_name", {"email": "nul-name@hostile.test", "first_name": "a\u0000b"}),
    ("property key", {"email": "nul-key@hostile.test", "properties": {"k\u0000": "v"}}),
    ("property value", {"email": "nul-value@hostile.test", "properties": {"k": "v\u0000"}}),
    ("email", {"email": "nul\u0000@hostile.test"}),
    ("external_id", {"external_id": "nul\u0000"}),
]


@pytest.fixture(scope="module")
def nul_answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, tuple[int, bool]]]:
    """For each backend and NUL input: (status, whether the store changed)."""
    answers: dict[str, dict[str, tuple[int, bool]]] = {}
    for backend in ("sqlite", "postgresql"):
        directory = tmp_path_factory.mktemp(f"nul-{backend}")
        if backend == "sqlite":
            answers[backend] = _nul_run(directory, f"sqlite:///{directory / 'localviyo.db'}")
        else:
            with postgres_schema() as url:
                answers[backend] = _nul_run(directory, url)
    return answers


def _nul_run(directory: Path, database_url: str) -> dict[str, tuple[int, bool]]:
    found: dict[str, tuple[int, bool]] = {}
    with serving(directory, "--database-url", database_url, "--rate-limits", "off") as served:
        key = first_run_key(served.stdout)
        for name, attributes in NUL_WRITES:
            before = snapshot(database_url)
            reply = raw_request(served.url, build("POST", b"/api/profiles/", key=key, body=_create_doc(attributes)))
            found[f"create with NUL in {name}"] = (reply.status, snapshot(database_url) != before)
        for name, target in (
            ("id", b"/api/profiles/%00/"),
            ("filter", b"/api/profiles/?filter=" + quote('equals(external_id,"a\x00b")', safe="(),").encode()),
        ):
            before = snapshot(database_url)
            reply = raw_request(served.url, build("GET", target, key=key))
            found[f"get with NUL in {name}"] = (reply.status, snapshot(database_url) != before)
    return found


NUL_CASES = [f"create with NUL in {name}" for name, _ in NUL_WRITES] + ["get with NUL in id", "get with NUL in filter"]


@pytest.mark.parametrize("case", NUL_CASES)
def test_nul_characters_get_the_same_answer_on_every_backend(
    nul_answers: dict[str, dict[str, tuple[int, bool]]], case: str
) -> None:
    sqlite_status, _ = nul_answers["sqlite"][case]
    postgres_status, _ = nul_answers["postgresql"][case]
    assert postgres_status < 500, f"{case}: PostgreSQL answered {postgres_status} (SQLite {sqlite_status})"
    assert sqlite_status < 500, f"{case}: SQLite answered {sqlite_status}"
    assert sqlite_status == postgres_status, f"{case}: SQLite {sqlite_status}, PostgreSQL {postgres_status}"


@pytest.mark.parametrize("case", [f"create with NUL in {name}" for name in ("email", "external_id")])
def test_nul_in_an_identifier_is_refused(nul_answers: dict[str, dict[str, tuple[int, bool]]], case: str) -> None:
    """An identifier with a control character is never an address or an id; PostgreSQL cannot index it."""
    for backend, answers in nul_answers.items():
        status, changed = answers[case]
        assert 400 <= status < 500 and not changed, f"{case} on {backend}: {status}, store changed: {changed}"
