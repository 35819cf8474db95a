"""The admin API, outside Klaviyo's `/api` namespace: `/__localviyo/…`.

On by default for local use; `--admin off` removes it (404) for a shared deployment, and `--admin-token`
requires `Authorization: Bearer <token>`. Bodies are plain JSON (`application/json`), errors the same
JSON:API error documents as the rest. The README documents every call.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from localviyo import accounts, seed
from localviyo.api.request import Request, Response
from localviyo.clock import AdjustableClock, frozen_at
from localviyo.core.document import Changes, DocumentRules, parse_import
from localviyo.core.keys import FULL_ACCESS, parse_scopes
from localviyo.errors import Invalid, MethodNotAllowed, NotAuthenticated, NotFound
from localviyo.revisions import Revision

if TYPE_CHECKING:
    from localviyo.app import LocalviyoApp

PREFIX = "/__localviyo"
MAX_BODY_BYTES = 256 * 1024 * 1024  # seed files
NO_SUCH_CALL = "No such admin call: {method} {path}. See the README's admin API."
UNKNOWN_ACCOUNT = "No account named {name!r}."
FROZEN_CLOCK_ONLY = "This server's clock cannot be controlled."

_encode = msgspec.json.Encoder().encode


def is_admin(path: str) -> bool:
    """Whether `path` is the admin API's: `/__localviyo` itself or below it, not a name that begins so."""
    return path.startswith(PREFIX) and (len(path) == len(PREFIX) or path[len(PREFIX)] == "/")


RULES = DocumentRules(mismatch_status=400)


def _json(status: int, document: Any) -> Response:
    return Response(status, _encode(document), content_type="application/json")


def _body(request: Request) -> Any:
    if not request.body.strip():
        return {}
    try:
        return msgspec.json.decode(request.body)
    except msgspec.DecodeError as error:
        raise Invalid(f"JSON parse error - {error}", pointer="/") from None


class Admin:
    def __init__(self, app: LocalviyoApp) -> None:
        self.app = app
        self.routes: dict[str, dict[str, Callable[[Request], Response]]] = {
            "health": {"GET": self.health},
            "reset": {"POST": self.reset},
            "seed": {"POST": self.seed},
            "export": {"GET": self.export},
            "requests": {"GET": self.requests, "DELETE": self.clear_requests},
            "faults": {"GET": self.faults, "POST": self.add_fault, "DELETE": self.clear_faults},
            "clock": {"GET": self.clock, "POST": self.set_clock},
            "keys": {"POST": self.create_key},
        }

    def handle(self, request: Request) -> Response:
        token = self.app.settings.admin_token
        if token:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                raise NotAuthenticated("The admin API needs `Authorization: Bearer <admin token>`.", pointer="/")
        name = request.path[len(PREFIX) :].strip("/")
        methods = self.routes.get(name)
        if methods is None:
            raise NotFound(NO_SUCH_CALL.format(method=request.method, path=request.path), pointer="/")
        handler = methods.get(request.method)
        if handler is None:
            raise MethodNotAllowed(request.method, [*methods, "OPTIONS"])
        return handler(request)

    def _account_id(self, name: str | None) -> str | None:
        if name is None:
            return None
        account = self.app.store.account_by_name(name)
        if account is None:
            raise Invalid(UNKNOWN_ACCOUNT.format(name=name), parameter="account")
        return account.id

    def health(self, request: Request) -> Response:
        from localviyo import __version__

        clock = self.app.clock
        frozen = isinstance(clock, AdjustableClock) and clock.frozen
        return _json(200, {"status": "ok", "version": __version__, "time": seed.iso(clock.time()), "frozen": frozen})

    def reset(self, request: Request) -> Response:
        name = _body(request).get("account") or request.query.get("account")
        self.app.reset(self._account_id(name))
        return _json(200, {"reset": name or "everything"})

    def seed(self, request: Request) -> Response:
        try:
            items = seed.parse_seed(request.body)
        except ValueError as error:
            raise Invalid(str(error), pointer="/") from None
        default = request.query.get("account", accounts.DEFAULT_ACCOUNT)
        ids = [profile.id for profile in self.app.seed(items, default)]
        return _json(200, {"seeded": len(ids), "ids": ids})

    def export(self, request: Request) -> Response:
        names = {account.id: account.name for account in self.app.store.list_accounts()}
        wanted = self._account_id(request.query.get("account"))
        body = b"".join(
            seed.lines(
                seed.export_line(profile, names[account_id])
                for account_id in names
                if wanted in (None, account_id)
                for profile in self.app.service.export(account_id)
            )
        )
        return Response(200, body, content_type="application/x-ndjson")

    def requests(self, request: Request) -> Response:
        query = request.query
        status = query.get("status")
        entries = self.app.journal.find(
            method=query.get("method"),
            path=query.get("path"),
            status=int(status) if status and status.isdigit() else None,
            operation=query.get("operation"),
            account=self._account_id(query.get("account")),
        )
        limit = query.get("limit", "")
        if limit.isdigit():
            entries = entries[-int(limit) :]
        return _json(200, {"data": [entry.to_json() for entry in entries]})

    def clear_requests(self, request: Request) -> Response:
        self.app.journal.clear()
        return Response(204)

    def faults(self, request: Request) -> Response:
        return _json(200, {"data": [fault.to_json() for fault in self.app.faults.list()]})

    def add_fault(self, request: Request) -> Response:
        rule = _body(request)
        if isinstance(rule, dict) and rule.get("account") is not None:
            rule = {**rule, "account": self._account_id(str(rule["account"]))}
        try:
            fault = self.app.faults.add(rule)
        except ValueError as error:
            raise Invalid(str(error), pointer="/") from None
        return _json(201, {"data": fault.to_json()})

    def clear_faults(self, request: Request) -> Response:
        self.app.faults.clear()
        return Response(204)

    def clock(self, request: Request) -> Response:
        clock = self.app.clock
        now = clock.time()
        frozen = isinstance(clock, AdjustableClock) and clock.frozen
        return _json(200, {"data": {"now": seed.iso(now), "timestamp": now, "frozen": frozen}})

    def set_clock(self, request: Request) -> Response:
        clock = self.app.clock
        if not isinstance(clock, AdjustableClock):
            raise Invalid(FROZEN_CLOCK_ONLY, pointer="/")
        change = _body(request)
        if not isinstance(change, dict) or not set(change) <= {"freeze", "set", "advance", "reset"}:
            raise Invalid(
                "Expected an object with freeze (bool), set (ISO 8601), advance (seconds), reset.", pointer="/"
            )
        try:
            moment = frozen_at(str(change["set"])) if change.get("set") is not None else None
        except ValueError:
            raise Invalid("set: not an ISO 8601 time.", pointer="/set") from None
        advance = change.get("advance", 0)
        if not isinstance(advance, int | float) or isinstance(advance, bool):
            raise Invalid("advance: a number of seconds.", pointer="/advance")
        if change.get("reset"):
            clock.reset()
        if change.get("freeze") is True:
            clock.freeze(moment)
        elif change.get("freeze") is False:
            clock.unfreeze()
        if moment is not None and change.get("freeze") is not True:
            clock.set(moment)
        if advance:
            clock.advance(advance)
        return self.clock(request)

    def create_key(self, request: Request) -> Response:
        document = _body(request)
        name = document.get("account") or accounts.DEFAULT_ACCOUNT
        scopes = document.get("scopes")
        try:
            granted = parse_scopes(",".join(scopes)) if scopes else (FULL_ACCESS,)
        except (ValueError, TypeError) as error:
            raise Invalid(str(error), pointer="/scopes") from None
        key = accounts.create_key(self.app.store, self.app.clock, account=name, scopes=granted)
        return _json(201, {"data": {"key": key, "account": name, "scopes": list(granted)}})


# Seed items may carry every attribute any revision has: `locale` (from 2024-07-15) and `anonymous_id`
# (until 2025-10-15) are both known to this revision.
SEED_REVISION = Revision("2025-07-15")


def seed_changes(item: seed.SeedItem) -> Changes:
    """The attributes of a seed item, read and validated as profile-import reads them."""
    _, changes = parse_import({"data": {"type": "profile", "attributes": item.attributes}}, SEED_REVISION, RULES)
    return changes
