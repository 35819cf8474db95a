"""The ASGI application: routing, the checks every request passes through, and error rendering.

Order of the checks, as in Django REST Framework, on which Klaviyo's API is built: route (404/405), body
size (413), revision (400/404), key (401), scope (403), then any fault set on purpose, then the rate limit
(429); then the handler parses the body (415/400) and calls the service. Everything after the body is read
is synchronous and runs on the event loop for an inline store (SQLite), in a worker thread otherwise.
Every request to the Klaviyo API goes into the journal.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from localviyo import jsonapi
from localviyo.admin import MAX_BODY_BYTES as ADMIN_MAX_BODY_BYTES
from localviyo.admin import Admin, is_admin, seed_changes
from localviyo.api.auth import authenticate
from localviyo.api.querystring import field_count
from localviyo.api.request import MAX_BODY_BYTES, MAX_QUERY_PARAMETERS, TOO_DEEP, Request, Response, read_body
from localviyo.api.routes import OPERATIONS, Operation, Router
from localviyo.clock import AdjustableClock, Clock, Ids, ManualClock, frozen_at, utc
from localviyo.core.document import DocumentRules
from localviyo.core.keys import allows
from localviyo.core.profile import Profile
from localviyo.errors import (
    APIError,
    Errors,
    Invalid,
    MethodNotAllowed,
    NotFound,
    PermissionDenied,
    ServerError,
    Throttled,
)
from localviyo.faults import Faults
from localviyo.journal import Journal
from localviyo.ratelimit import Decision, Limiter, open_limiter
from localviyo.revisions import Revision, accepted_revisions, parse_revision
from localviyo.seed import SeedItem
from localviyo.service import ProfileService
from localviyo.settings import Settings
from localviyo.storage import Store, open_store

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

NO_ROUTE = "Not found."
NO_SCOPE = "You do not have permission to perform this action."
SERVER_ERROR = "A server error occurred."
WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})

log = logging.getLogger("localviyo")


class LocalviyoApp:
    def __init__(self, settings: Settings, store: Store, clock: Clock, ids: Ids, limiter: Limiter | None) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.ids = ids
        self.limiter = limiter
        rules = DocumentRules(mismatch_status=settings.mismatch_status)
        self.service = ProfileService(store, clock, ids, rules, merge_prefer=settings.merge_prefer)
        self.accepted_revisions = accepted_revisions(settings.revisions)
        self.router = Router(OPERATIONS)
        self.journal = Journal(settings.journal_size)
        self.faults = Faults()
        self.admin = Admin(self) if settings.admin == "on" else None
        self._revisions: dict[tuple[str | None, str, str], Revision] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self._lifespan(receive, send)
            return
        # One coroutine from request to journal for an API call on an inline store (the path every request
        # of a benchmark takes): each coroutine, closure or copy more costs every request (bench/ROUNDS.md,
        # thirteenth round).
        started = time.perf_counter()
        request: Request | None = None
        operation: Operation | None = None
        admin = False
        try:
            request = self._request(scope)
            path = request.path
            admin = is_admin(path)
            if admin:
                response = await self._admin(request, receive)
            else:
                operation = self._route(request)
                if operation is None:
                    response = Response(204, headers={"Allow": ", ".join(self._allow(path))})
                else:
                    request.body = await read_body(request.headers, receive, MAX_BODY_BYTES)
                    if not self.store.inline:
                        response = await asyncio.to_thread(self.process, operation, request)
                    else:
                        if request.method in WRITES and (gate := self.store.write_gate()) is not None:
                            await gate  # the WAL is being drained (storage/wal_drain.py)
                        response = self.process(operation, request)
            # Work done on the loop may have shared a transaction with others of this turn (group commit):
            # answer once it is stored. If it could not be, nothing of it was, and the answer is a 500
            # (already logged).
            pending = self.store.pending_commit() if admin or operation is not None else None
            if pending is not None:
                try:
                    await pending
                except Exception:
                    response = self.error_response(ServerError(SERVER_ERROR))
        except (APIError, Errors) as error:
            response = self.error_response(error)
        except Exception:
            log.exception("unhandled error routing %s %s", scope.get("method"), scope.get("path"))
            response = self.error_response(ServerError(SERVER_ERROR))
        if response.delay:
            await asyncio.sleep(response.delay)
        body = response.body
        if response.headers:
            headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers.items()]
        else:
            headers = []
        if body:
            headers.append((b"content-type", response.content_type.encode()))
        headers.append((b"content-length", b"%d" % len(body)))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
        if request is not None and not admin:  # the admin API is not journaled
            self.journal.record(
                self.clock.time(),
                request.method,
                request.path,
                request.query_string,
                request.headers,
                request.body,
                response.status,
                body,
                operation.id if operation else None,
                request.account_id or None,
                (time.perf_counter() - started) * 1000,
            )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        self.store.serve_on(asyncio.get_running_loop(), group_commit=self.settings.group_commit)
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        self.store.stop_serving()
        await send({"type": "lifespan.shutdown.complete"})

    def _request(self, scope: Scope) -> Request:
        # ASGI servers give header names in lower case (the specification asks them to).
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        query_string = scope["query_string"].decode("latin-1")
        return Request(scope["method"], scope["path"], query_string, headers, b"", self._base_url(scope, headers))

    async def _admin(self, request: Request, receive: Receive) -> Response:
        if self.admin is None:
            raise NotFound(NO_ROUTE, pointer="/data/")
        request.body = await read_body(request.headers, receive, ADMIN_MAX_BODY_BYTES)
        if not self.store.inline:
            return await asyncio.to_thread(self._administer, self.admin, request)
        return self._administer(self.admin, request)  # its batch, if it wrote, is awaited by __call__

    def _administer(self, admin: Admin, request: Request) -> Response:
        try:
            return admin.handle(request)
        except Exception as error:
            return self._failure(error, f"{request.method} {request.path}")

    def _route(self, request: Request) -> Operation | None:
        """The operation for this method and path; None for OPTIONS."""
        if "\x00" in request.path:
            raise NotFound(NO_ROUTE, pointer="/data/")  # no id or route holds a NUL
        if request.query_string and field_count(request.query_string) > MAX_QUERY_PARAMETERS:
            request.query  # noqa: B018 — parsing it raises the 400 for too many parameters
        matched = self.router.match(request.path)
        if matched is None:
            raise NotFound(NO_ROUTE, pointer="/data/")
        methods, request.path_params = matched
        if request.method == "OPTIONS":
            return None
        operation = methods.get("GET" if request.method == "HEAD" else request.method)
        if operation is None:
            raise MethodNotAllowed(request.method, self._allow(request.path))
        return operation

    def _allow(self, path: str) -> list[str]:
        matched = self.router.match(path)
        methods = sorted(matched[0]) if matched else []
        return methods + (["HEAD"] if "GET" in methods else []) + ["OPTIONS"]

    def process(self, operation: Operation, request: Request) -> Response:
        decision: Decision | None = None
        delay = 0.0
        try:
            request.revision = self._revision(request.headers.get("revision"), operation)
            key = authenticate(request.headers.get("authorization"), self.store)
            if not allows(key.scopes, operation.scopes):
                raise PermissionDenied(NO_SCOPE, pointer="/data/")
            request.account_id = key.account_id
            fault = self.faults.take(operation.id, request.method, request.path, key.account_id)
            if fault is not None:
                delay = fault.latency
                if (error := fault.error()) is not None:
                    raise error
            decision = self._limit(operation, request, key.account_id)
            response = operation.handler(request, self.service)
        except Exception as error:
            response = self._failure(error, operation.id)
        response.delay = delay
        if decision is not None and decision.allowed:
            response.headers["RateLimit-Limit"] = str(decision.limit)
            response.headers["RateLimit-Remaining"] = str(decision.remaining)
            response.headers["RateLimit-Reset"] = str(decision.reset)
        return response

    def _failure(self, error: Exception, where: str) -> Response:
        """The answer to an operation or admin call that raised `error` (called while it is handled)."""
        if isinstance(error, APIError | Errors):
            return self.error_response(error)
        if isinstance(error, RecursionError):
            # Input that nests deeper than the decoder refuses (about 1,000 levels) but deep enough to
            # exhaust a recursive step later: refused like the decoder's, before anything is stored.
            return self.error_response(Invalid(TOO_DEEP, pointer="/data/"))
        log.exception("unhandled error in %s", where)
        return self.error_response(ServerError(SERVER_ERROR))

    def _limit(self, operation: Operation, request: Request, account_id: str) -> Decision | None:
        if self.limiter is None:
            return None
        bucket, limits = f"{account_id}:{operation.id}", operation.limits_for(request.revision.date)
        tier = operation.tier(request) if operation.tier is not None else None
        if tier is not None:
            bucket, limits = f"{bucket}:{tier[0]}", tier[1]
        decision = self.limiter.hit(bucket, limits, self.clock.time())
        if decision is not None and not decision.allowed:
            raise Throttled(decision.retry_after)
        return decision

    def _revision(self, value: str | None, operation: Operation) -> Revision:
        today = _today(int(self.clock.time() // 86400))
        cache_key = (value, operation.since, today)
        revision = self._revisions.get(cache_key)
        if revision is None:
            revision = parse_revision(value, today=today, earliest=operation.since, accepted=self.accepted_revisions)
            if len(self._revisions) < 256:  # valid headers are few; a flood of odd ones is not kept
                self._revisions[cache_key] = revision
        return revision

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

    # What tests and the admin API do to a running server

    def reset(self, account_id: str | None = None) -> None:
        """Profiles of one account, or everything: profiles, journal, faults, rate-limit windows, clock.
        Keys and accounts stay."""
        self.store.reset(account_id)
        if account_id is None:
            self.journal.clear()
            self.faults.clear()
            if self.limiter is not None:
                self.limiter.reset()
            if isinstance(self.clock, AdjustableClock) and not isinstance(self.clock, ManualClock):
                self.clock.reset()

    def set_rate_limits(self, on: bool) -> None:
        self.limiter = (
            open_limiter(self.settings.redis_url, fail_open=self.settings.redis_failure == "open") if on else None
        )

    def seed(self, items: Iterable[SeedItem], account: str) -> list[Profile]:
        from localviyo import accounts

        seeded = []
        for item in items:
            owner = accounts.ensure_account(self.store, item.account or account, self.clock)
            changes = seed_changes(item)
            seeded.append(self.service.seed_profile(owner.id, item.id, changes, item.created, item.updated))
        return seeded


@functools.lru_cache(maxsize=8)
def _today(day: int) -> str:
    return utc(day * 86400).date().isoformat()


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
        clock = ManualClock(frozen_at(settings.frozen_time)) if settings.frozen_time else AdjustableClock()
    if store is None:
        store = open_store(
            settings.database_url,
            external_id_unique=settings.external_id_unique,
            pool_size=settings.pool_size,
            synchronous=settings.sqlite_synchronous,
            checkpoints=settings.sqlite_checkpoints,
        )
    store.migrate()
    limiter = None
    if settings.rate_limits == "klaviyo":
        limiter = open_limiter(settings.redis_url, fail_open=settings.redis_failure == "open")
    return LocalviyoApp(settings, store, clock, ids or Ids(clock, settings.seed_ids), limiter)


__all__ = ["LocalviyoApp", "create_app"]
