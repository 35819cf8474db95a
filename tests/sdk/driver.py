# Runs inside an SDK venv (stdlib + klaviyo_api only) and is driven by
# harness.py: one JSON request per stdin line, one JSON reply per stdout line.
from __future__ import annotations

import datetime
import decimal
import enum
import importlib.metadata
import json
import os
import sys
import traceback
import uuid
from typing import Any

# Claim the real stdout for the protocol and point fd 1 at stderr, so a stray
# print() in the SDK (or a C extension writing to fd 1) cannot corrupt a reply.
_PROTOCOL_OUT = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr

import klaviyo_api  # noqa: E402  (after the stdout swap on purpose)
from openapi_client.exceptions import ApiException  # noqa: E402

_clients: dict[str, Any] = {}


def _plain(obj: Any) -> Any:
    # json.dumps fallback. Pydantic models (25.x) go through the SDK's own
    # to_dict(), which emits wire names (by_alias) but drops None values that
    # were not explicitly nullable-and-set; nested datetimes/enums come back
    # here as well.
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    model_dump = getattr(obj, "model_dump", None)
    if callable(model_dump):
        return model_dump(by_alias=True)
    if isinstance(obj, (datetime.datetime, datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (bytes, bytearray)):
        return obj.decode("utf-8", "replace")
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, (decimal.Decimal, uuid.UUID)):
        return str(obj)
    # pydantic 1 models (7.x request models never come back, but be safe).
    as_dict = getattr(obj, "dict", None)
    if callable(as_dict):
        return as_dict(by_alias=True)
    raise TypeError(f"cannot convert {type(obj).__name__} to JSON")


def _client(key: str, host: str, options: dict[str, Any]) -> Any:
    cache_key = json.dumps([key, host, options], sort_keys=True)
    client = _clients.get(cache_key)
    if client is None:
        client = klaviyo_api.KlaviyoAPI(key, test_host=host, **options)
        _clients[cache_key] = client
    return client


def _headers(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    # urllib3's HTTPHeaderDict iterates original-case names and joins repeated
    # headers with ", " on lookup; dict(items()) would keep only the last one.
    return {str(name): str(raw[name]) for name in raw}


def _handle(request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "version":
        return {"ok": importlib.metadata.version("klaviyo-api")}
    if op == "revision":
        return {"ok": klaviyo_api.KlaviyoAPI._REVISION}
    if op is not None:
        raise ValueError(f"unknown op {op!r}")

    client = _client(request["key"], request["host"], request.get("options") or {})
    bound = getattr(getattr(client, request["api"]), request["method"])
    result = bound(*request.get("args", []), **request.get("kwargs", {}))
    reply: dict[str, Any] = {"ok": result}
    if result is not None and not isinstance(result, (dict, list, str, int, float)):
        # Tells tests whether 25.x produced a typed model or fell back to a
        # dict (it does the latter for sparse fieldsets).
        reply["model"] = type(result).__name__
    return reply


def _error(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, ApiException):
        body = exc.body
        if isinstance(body, (bytes, bytearray)):
            body = body.decode("utf-8", "replace")
        error: dict[str, Any] = {
            "kind": "api",
            "status": int(exc.status) if exc.status is not None else 0,
            "reason": str(exc.reason) if exc.reason is not None else "",
            "body": body if body is not None else "",
            "headers": _headers(exc.headers),
            # 25.x parses 4XX/5XX bodies into its error model; None there
            # means the body did not match that model (7.x never parses).
            "data": getattr(exc, "data", None),
        }
        return error
    return {
        "kind": "client",
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }


def _write(reply: dict[str, Any]) -> None:
    try:
        line = json.dumps(reply, default=_plain)
    except Exception as exc:  # the result itself could not be serialized
        line = json.dumps({"id": reply.get("id"), "error": _error(exc)}, default=str)
    _PROTOCOL_OUT.write(line + "\n")
    _PROTOCOL_OUT.flush()


def main() -> None:
    for raw in sys.stdin:
        if not raw.strip():
            continue
        request_id: Any = None
        try:
            request = json.loads(raw)
            request_id = request.get("id")
            reply = _handle(request)
        except Exception as exc:  # one bad request must not end the driver
            reply = {"error": _error(exc)}
        reply["id"] = request_id
        _write(reply)


if __name__ == "__main__":
    main()
