"""The ASGI application: routing, the checks every request passes through, and error rendering.

Order of the checks, as in Django REST Framework, on which Klaviyo's API is built: route (404/405), body
size (413), revision (400/404), key (401), scope (403), rate limit (429); then the handler parses the
body (415/400) and calls the service. Everything after the body is read is synchronous and runs on the
event loop for an inline store (SQLite), in a worker thread otherwise.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from localviyo import jsonapi
from localviyo.api.auth import authenticate
from localviyo.api.request import Request, Response
from localviyo.api.routes import OPERATIONS, Operation, Router
from localviyo.clock import Clock, Ids, ManualClock, SystemClock, frozen_at, utc
from localviyo.core.document import DocumentRules
from localviyo.core.keys import allows
from localviyo.errors import (
    APIError,
    Errors,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    ServerError,
    Throttled,
)
from localviyo.ratelimit import Decision, Limiter, open_limiter
from localviyo.revisions import Revision, parse_revision
from localviyo.service import ProfileService
from localviyo.settings import Settings
from localviyo.storage import Store, open_store

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY_BYTES = 100 * 1024  # "The maximum allowed payload size is 100KB" (Klaviyo, from 2025-01-15)
TOO_LARGE = "The maximum allowed payload size is 100KB."
NO_ROUTE = "Not found."
NO_SCOPE = "You do not have permission to perform this action."
SERVER_ERROR = "A server error occurred."

log = logging.getLogger("localviyo")


class LocalviyoApp:
    def __init__(self, settings: Settings, store: Store, clock: Clock, ids: Ids, limiter: Limiter | None) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.ids = ids
        self.limiter = limiter
        self.service = ProfileService(store, clock, ids, DocumentRules(mismatch_status=settings.mismatch_status))
        self.router = Router(OPERATIONS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        response = await self._handle(scope, receive)
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers.items()]
        if response.body:
            headers.append((b"content-type", jsonapi.MEDIA_TYPE.encode()))
        headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else response.body})

    async def _handle(self, scope: Scope, receive: Receive) -> Response:
        try:
            headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
            matched = self.router.match(scope["path"])
            if matched is None:
                raise NotFound(NO_ROUTE, pointer="/data/")
            methods, params = matched
            allow = sorted(methods) + (["HEAD"] if "GET" in methods else []) + ["OPTIONS"]
            method = scope["method"]
            if method == "OPTIONS":
                return Response(204, headers={"Allow": ", ".join(allow)})
            operation = methods.get("GET" if method == "HEAD" else method)
            if operation is None:
                raise MethodNotAllowed(method, allow)
            request = Request(
                method=method,
                path=scope["path"],
                query_string=scope["query_string"].decode("latin-1"),
                headers=headers,
                body=await _read_body(headers, receive),
                base_url=self._base_url(scope, headers),
                path_params=params,
            )
        except (APIError, Errors) as error:
            return self.error_response(error)
        except Exception:
            log.exception("unhandled error routing %s %s", scope.get("method"), scope.get("path"))
            return self.error_response(ServerError(SERVER_ERROR))
        if self.store.inline:
            return self.process(operation, request)
        return await asyncio.to_thread(self.process, operation, request)

    def process(self, operation: Operation, request: Request) -> Response:
        decision: Decision | None = None
        try:
            request.revision = self._revision(request.headers.get("revision"), operation)
            key = authenticate(request.headers.get("authorization"), self.store)
            if not allows(key.scopes, operation.scopes):
                raise PermissionDenied(NO_SCOPE, pointer="/data/")
            request.account_id = key.account_id
            if self.limiter is not None:
                bucket, limits = f"{key.account_id}:{operation.id}", operation.limits_for(request.revision.date)
                tier = operation.tier(request) if operation.tier is not None else None
                if tier is not None:
                    bucket, limits = f"{bucket}:{tier[0]}", tier[1]
                decision = self.limiter.hit(bucket, limits, self.clock.time())
                if decision is not None and not decision.allowed:
                    raise Throttled(decision.retry_after)
            response = operation.handler(request, self.service)
        except (APIError, Errors) as error:
            response = self.error_response(error)
        except Exception:
            log.exception("unhandled error in %s", operation.id)
            response = self.error_response(ServerError(SERVER_ERROR))
        if decision is not None and decision.allowed:
            response.headers["RateLimit-Limit"] = str(decision.limit)
            response.headers["RateLimit-Remaining"] = str(decision.remaining)
            response.headers["RateLimit-Reset"] = str(decision.reset)
        return response

    def _revision(self, value: str | None, operation: Operation) -> Revision:
        today = utc(self.clock.time()).date().isoformat()
        return parse_revision(value, today=today, earliest=operation.since)

    def _base_url(self, scope: Scope, headers: dict[str, str]) -> str:
        if self.settings.base_url:
            return self.settings.base_url.rstrip("/")
        host = headers.get("host")
        if not host:
            server = scope.get("server") or ("127.0.0.1", self.settings.port)
            host = f"{server[0]}:{server[1]}"
        return f"{scope.get('scheme', 'http')}://{host}"

    def error_response(self, error: APIError | Errors) -> Response:
        errors = error.errors if isinstance(error, Errors) else [error]
        headers: dict[str, str] = {}
        for item in errors:
            headers.update(item.headers)
        return Response(error.status, jsonapi.error_document(errors, self.ids.uuid), headers)


async def _read_body(headers: dict[str, str], receive: Receive) -> bytes:
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise PayloadTooLarge(TOO_LARGE, pointer="/data/")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(TOO_LARGE, pointer="/data/")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    clock: Clock | None = None,
    ids: Ids | None = None,
) -> LocalviyoApp:
    """The one way to build the server; the store is migrated before the app is returned."""
    settings = settings or Settings()
    if clock is None:
        clock = ManualClock(frozen_at(settings.frozen_time)) if settings.frozen_time else SystemClock()
    if store is None:
        store = open_store(
            settings.database_url, external_id_unique=settings.external_id_unique, pool_size=settings.pool_size
        )
    store.migrate()
    limiter = None
    if settings.rate_limits == "klaviyo":
        limiter = open_limiter(settings.redis_url, fail_open=settings.redis_failure == "open")
    return LocalviyoApp(settings, store, clock, ids or Ids(clock), limiter)


__all__ = ["LocalviyoApp", "create_app"]
