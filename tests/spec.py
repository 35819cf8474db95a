"""Read-only access to Klaviyo's published OpenAPI 3.0 specs, for tests.

The specs are third-party data we do not own, so they are never copied into this
repository: they are read from ``../shared/klaviyo-openapi/`` next to the repository
root, and every caller is expected to skip (see ``spec_available``) when it is absent.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

# jsonschema ships no type information; "unused-ignore" keeps this line quiet should a
# stub package or an ignore_missing_imports setting make the ignore unnecessary later.
import jsonschema  # type: ignore[import-untyped, unused-ignore]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

# The repository root is the parent of tests/; the specs live beside the repository.
SPEC_DIR: Path = Path(__file__).resolve().parent.parent.parent / "shared" / "klaviyo-openapi"

_REVISION = re.compile(r"^(\d{4}-\d{2}-\d{2})(\.[A-Za-z0-9]+)?$")
_COPY = re.compile(r"^stable-(\d{4}-\d{2}-\d{2})\.json$")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

JSON = dict[str, Any]


def _copied_revisions() -> list[str]:
    """Revisions with a full spec copy (``stable-YYYY-MM-DD.json``), oldest first.

    Partial slices such as ``stable-2026-07-15-category-profiles.json`` do not match.
    """
    if not SPEC_DIR.is_dir():
        return []
    return sorted(m.group(1) for p in SPEC_DIR.iterdir() if (m := _COPY.match(p.name)))


def _spec_revision(revision: str) -> str | None:
    """Map an API revision to the revision of the spec copy that describes it.

    Only some revisions were copied (2023-12-15, 2024-02-15, 2024-05-15, 2026-07-15).
    A revision without its own copy uses the newest copy at or below it, because a
    Klaviyo revision stays as it was until the next one ships: 2024-07-15 and
    2024-10-15 -> 2024-05-15, 2026-10-15 -> 2026-07-15.  That stand-in can be wrong in
    details (e.g. 2024-10-15 dropped the trailing slash from paths), so tests that
    depend on such details must pin a copied revision.  A suffix such as ``.pre`` is
    ignored.  Revisions older than every copy map to ``None``.
    """
    match = _REVISION.match(revision)
    if match is None:
        raise ValueError(f"not a Klaviyo revision (YYYY-MM-DD[.suffix]): {revision!r}")
    at_or_below = [r for r in _copied_revisions() if r <= match.group(1)]
    return at_or_below[-1] if at_or_below else None


def spec_available(revision: str) -> bool:
    """Whether a spec copy describing ``revision`` is present (tests skip otherwise)."""
    return _spec_revision(revision) is not None


def _mapped(revision: str) -> str:
    mapped = _spec_revision(revision)
    if mapped is None:
        raise FileNotFoundError(f"no Klaviyo OpenAPI spec at or below revision {revision} in {SPEC_DIR}")
    return mapped


def load_spec(revision: str) -> JSON:
    """The parsed spec document for ``revision`` (shared and cached: do not mutate it)."""
    return _load_copy(_mapped(revision))


@functools.cache
def _load_copy(mapped: str) -> JSON:
    with (SPEC_DIR / f"stable-{mapped}.json").open(encoding="utf-8") as f:
        doc: JSON = json.load(f)
    return doc


def _resolve(doc: JSON, node: Any) -> tuple[Any, str | None]:
    """Follow a local ``$ref`` (as used for parameters/responses); return the target and its pointer."""
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):
        pointer = node["$ref"].removeprefix("#")
        target: Any = doc
        for part in pointer.split("/")[1:]:
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return target, pointer
    return node, None


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class Operation:
    revision: str  # revision of the spec copy this was read from (after mapping)
    operation_id: str
    method: str  # upper case, e.g. "PATCH"
    path: str  # exactly as in the spec, e.g. "/api/profiles/{id}/"
    tags: tuple[str, ...]
    scopes: tuple[str, ...]  # x-klaviyo-scopes
    rate_limit: dict[str, str]  # x-klaviyo-ratelimit, e.g. {"burst": "75/s", "steady": "700/m"}
    parameters: tuple[JSON, ...]  # path-level + operation-level, $refs resolved
    request_schema: JSON | None  # raw OpenAPI schema of the (JSON) request body, if any
    responses: JSON  # raw "responses" object, keyed "200", "4XX", ...
    pointer: str  # JSON pointer of the operation object within the document

    @property
    def query_parameters(self) -> list[str]:
        return [p["name"] for p in self.parameters if p.get("in") == "query"]

    @property
    def success_statuses(self) -> list[int]:
        return [int(s) for s in self.responses if s.isdigit() and s.startswith("2")]


@functools.cache
def _operations(mapped: str) -> dict[str, Operation]:
    doc = _load_copy(mapped)
    ops: dict[str, Operation] = {}
    for path, item in doc["paths"].items():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            # Operation-level parameters (listed last) override path-level ones with the same name+in.
            raw = [*item.get("parameters", []), *op.get("parameters", [])]
            params = {(p["name"], p["in"]): p for p in (_resolve(doc, x)[0] for x in raw)}
            body = _resolve(doc, op["requestBody"])[0] if "requestBody" in op else None
            ops[op["operationId"]] = Operation(
                revision=mapped,
                operation_id=op["operationId"],
                method=method.upper(),
                path=path,
                tags=tuple(op.get("tags", ())),
                scopes=tuple(op.get("x-klaviyo-scopes", ())),
                rate_limit=dict(op.get("x-klaviyo-ratelimit", {})),
                parameters=tuple(params.values()),
                request_schema=media[1].get("schema") if body and (media := _media(body)) else None,
                responses=op.get("responses", {}),
                pointer=f"/paths/{_escape(path)}/{method}",
            )
    return ops


def operation(revision: str, operation_id: str) -> Operation:
    ops = _operations(_mapped(revision))
    if operation_id not in ops:
        raise KeyError(f"operationId {operation_id!r} is not in the {revision} spec")
    return ops[operation_id]


def operation_ids(revision: str, tag: str | None = None) -> list[str]:
    """operationIds in document order, optionally only those carrying ``tag``."""
    ops = _operations(_mapped(revision)).values()
    return [op.operation_id for op in ops if tag is None or tag in op.tags]


def _media(container: JSON) -> tuple[str, JSON] | None:
    """The media type entry of a request/response body, preferring JSON.

    Revisions up to 2024-07-15 use application/json, later ones application/vnd.api+json;
    a few uploads are multipart/form-data only.
    """
    content: JSON = container.get("content", {})
    ordered = sorted(content.items(), key=lambda item: "json" not in item[0])
    return ordered[0] if ordered else None


# --- OpenAPI 3.0 schema -> JSON Schema (2020-12) --------------------------------------


def _to_json_schema(node: Any) -> Any:
    """Rewrite the OpenAPI 3.0 dialect into plain JSON Schema, recursively.

    Runs over the whole document; only schema-shaped objects are affected because the
    checks below look at keyword *values* (``nullable`` must be a boolean, ``type`` a
    string), which property maps and other OpenAPI objects never have.  The result is
    read as JSON Schema 2020-12: nothing draft-specific is left after this rewrite
    (Klaviyo uses no exclusiveMinimum/Maximum), and 2020-12 neither treats ``id`` as a
    keyword (draft 4 does) nor ignores keywords next to ``$ref`` (draft 4-7 do).
    """
    if isinstance(node, list):
        return [_to_json_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_json_schema(v) for k, v in node.items()}
    one_of = out.get("oneOf")
    if isinstance(one_of, list) and {"integer", "number"} <= {b.get("type") for b in one_of}:
        # Klaviyo writes "oneOf: [integer, number]" to mean "a number"; in JSON Schema every
        # integer also matches "number", so oneOf would reject all integers.  anyOf is the intent.
        out["anyOf"] = out.pop("oneOf")
    if isinstance(out.get("nullable"), bool):
        nullable = out.pop("nullable")
        if nullable:
            kind = out.get("type")
            if isinstance(kind, str) and not {"$ref", "allOf", "anyOf", "oneOf"} & out.keys():
                # Plain typed schema: widen the type (and the enum, which would otherwise
                # still reject null) so error messages stay short.
                out["type"] = [kind, "null"]
                if isinstance(out.get("enum"), list):
                    out["enum"] = [*out["enum"], None]
            else:
                # $ref / allOf / oneOf schemas: Klaviyo puts nullable beside them (strictly
                # ignored next to $ref in OpenAPI 3.0, but clearly meant), so allow null explicitly.
                out = {"anyOf": [out, {"type": "null"}]}
    return out


def _date_time(value: object) -> bool:
    """RFC 3339 date-time, as OpenAPI's ``format: date-time`` requires (offset mandatory).

    jsonschema only checks date-time when the optional rfc3339-validator is installed, so
    the check is done here instead of silently being skipped.
    """
    if not isinstance(value, str):
        return True  # formats only constrain strings; the type keyword handles the rest
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", value):
        return False
    try:
        dt.datetime.fromisoformat(value.upper())
    except ValueError:
        return False
    return True


_FORMATS = jsonschema.FormatChecker()
_FORMATS.checks("date-time")(_date_time)


@functools.cache
def _registry(mapped: str) -> tuple[str, Registry[Any]]:
    """A referencing registry holding the converted document; refs resolve lazily (cycles are fine)."""
    uri = f"urn:klaviyo-openapi:{mapped}"
    converted = _to_json_schema(copy.deepcopy(_load_copy(mapped)))
    resource: Resource[Any] = DRAFT202012.create_resource(converted)
    return uri, Registry().with_resource(uri, resource)


def _response_pointer(op: Operation, status: int) -> str | None:
    """Pointer to the response object for ``status``: exact code, then ``4XX``/``5XX``, then default."""
    doc = load_spec(op.revision)
    for key in (str(status), f"{status // 100}XX", "default"):
        if key in op.responses:
            _, pointer = _resolve(doc, op.responses[key])
            return pointer or f"{op.pointer}/responses/{key}"
    return None


def _describe(error: Any, indent: str = "  ") -> list[str]:
    where = "/" + "/".join(_escape(str(p)) for p in error.absolute_path)
    message = error.message if len(error.message) <= 300 else error.message[:300] + "..."
    lines = [f"{indent}at {where}: {message}"]
    for sub in sorted(error.context or (), key=lambda e: list(map(str, e.absolute_path))):
        # The synthetic {"type": "null"} branch added for nullable never explains anything.
        if not (sub.validator == "type" and sub.validator_value == "null"):
            lines += _describe(sub, indent + "    ")
    return lines


def validate_response(revision: str, operation_id: str, status: int, body: Any) -> None:
    """Assert that ``body`` is what the spec allows ``operation_id`` to answer with ``status``."""
    op = operation(revision, operation_id)
    pointer = _response_pointer(op, status)
    if pointer is None:
        raise AssertionError(f"{operation_id} ({op.revision}) declares no response for status {status}")
    response, _ = _resolve(load_spec(op.revision), {"$ref": "#" + pointer})
    media = _media(response)
    if media is None:
        if body not in (None, b"", ""):
            raise AssertionError(f"{operation_id} ({op.revision}) {status}: spec declares no body, got {body!r}")
        return
    media_type = media[0]
    uri, registry = _registry(op.revision)
    target = quote(f"{pointer}/content/{_escape(media_type)}/schema", safe="/~")
    validator = jsonschema.Draft202012Validator({"$ref": f"{uri}#{target}"}, registry=registry, format_checker=_FORMATS)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        # allOf branches often repeat a keyword (e.g. data.type twice), so drop repeated reports.
        reports = dict.fromkeys("\n".join(_describe(error)) for error in errors)
        header = f"{operation_id} ({op.revision}) {status} response violates the spec:"
        raise AssertionError("\n".join([header, *reports]))
