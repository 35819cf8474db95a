"""`Localviyo`, what the pytest fixture hands a test: the server's URL and key, and control over it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localviyo import accounts
from localviyo.clock import AdjustableClock, frozen_at, utc
from localviyo.core.keys import FULL_ACCESS
from localviyo.journal import Entry
from localviyo.seed import export_line, parse_seed

if TYPE_CHECKING:
    from localviyo.app import LocalviyoApp
    from localviyo.faults import Fault


class Headers(dict[str, str]):
    """Response headers, looked up whatever the case of the name."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__((name.lower(), value) for name, value in headers.items())

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Headers
    body: Any  # parsed JSON, or None for an empty body

    @property
    def data(self) -> Any:
        return self.body["data"]

    @property
    def errors(self) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = self.body["errors"]
        return errors


class Requests:
    """The journal: every request to the Klaviyo API, oldest first."""

    def __init__(self, app: LocalviyoApp) -> None:
        self._journal = app.journal

    def find(self, **criteria: Any) -> list[Entry]:
        """By `method`, `path` (with or without the trailing slash), `status`, `operation`."""
        return self._journal.find(**criteria)

    def last(self) -> Entry:
        entries = list(self._journal)
        if not entries:
            raise LookupError("no request has been made")
        return entries[-1]

    def clear(self) -> None:
        self._journal.clear()

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._journal)

    def __len__(self) -> int:
        return len(self._journal)


def _moment(at: datetime | str | float) -> float:
    if isinstance(at, datetime):
        return at.timestamp()
    if isinstance(at, str):
        return frozen_at(at)
    return float(at)


class Clock:
    """The server's clock: `freeze()`, `unfreeze()`, `advance(seconds)`, `set(at)`, `now()`."""

    def __init__(self, clock: AdjustableClock) -> None:
        self._clock = clock

    def now(self) -> datetime:
        return utc(self._clock.time())

    def freeze(self, at: datetime | str | float | None = None) -> None:
        self._clock.freeze(None if at is None else _moment(at))

    def unfreeze(self) -> None:
        self._clock.unfreeze()

    def advance(self, seconds: float) -> None:
        self._clock.advance(seconds)

    def set(self, at: datetime | str | float) -> None:
        self._clock.set(_moment(at))


class Faults:
    """Make the next matching requests fail (or answer late): see faults.py."""

    def __init__(self, app: LocalviyoApp) -> None:
        self._app = app

    def add(self, status: int | None = None, *, times: int = 1, account: str | None = None, **rule: Any) -> Fault:
        if account is not None:
            found = self._app.store.account_by_name(account)
            if found is None:
                raise ValueError(f"no account named {account!r}")
            rule["account"] = found.id
        return self._app.faults.add({"status": status, "times": times, **rule})

    def clear(self) -> None:
        self._app.faults.clear()


class Localviyo:
    def __init__(self, app: LocalviyoApp, url: str, api_key: str, revision: str = "2024-02-15") -> None:
        if not isinstance(app.clock, AdjustableClock):
            raise TypeError("the fixture needs a server with an adjustable clock")
        self.app = app
        self.url = url
        self.api_key = api_key
        self.revision = revision
        self.requests = Requests(app)
        self.clock = Clock(app.clock)
        self.faults = Faults(app)
        self._client: Any = None

    def reset(self) -> None:
        self.app.reset()

    def set_rate_limits(self, on: bool) -> None:
        self.app.set_rate_limits(on)

    def create_key(self, scopes: tuple[str, ...] | list[str] = (FULL_ACCESS,), account: str = "default") -> str:
        return accounts.create_key(self.app.store, self.app.clock, account=account, scopes=tuple(scopes))

    def seed(self, profiles: list[dict[str, Any]] | str | Path, account: str = "default") -> list[str]:
        """Profiles (a list of attribute dicts or export lines, or a JSON / JSON-lines file); their ids."""
        raw = Path(profiles).read_bytes() if isinstance(profiles, str | Path) else json.dumps(profiles).encode()
        return [profile.id for profile in self.app.seed(parse_seed(raw), account)]

    def export(self) -> list[dict[str, Any]]:
        return [
            export_line(profile, account.name)
            for account in self.app.store.list_accounts()
            for profile in self.app.service.export(account.id)
        ]

    @property
    def client(self) -> Any:
        """A `klaviyo_api.KlaviyoAPI` pointed at this server (skips the test if the SDK is not installed)."""
        if self._client is None:
            try:
                from klaviyo_api import KlaviyoAPI  # type: ignore[import-not-found,import-untyped,unused-ignore]
            except ImportError:
                import pytest

                pytest.skip("klaviyo-api is not installed")
            self._client = KlaviyoAPI(self.api_key, max_delay=2, max_retries=3, test_host=self.url)
        return self._client

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        revision: str | None = None,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """A raw request with this test's key and revision: `localviyo.request("GET", "/api/profiles/")`."""
        sent = {"Authorization": f"Klaviyo-API-Key {key or self.api_key}", "revision": revision or self.revision}
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        request = urllib.request.Request(self.url + path, data=data, headers=sent, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, answer, raw = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            status, answer, raw = error.code, dict(error.headers), error.read()
        return Reply(status, Headers(answer), json.loads(raw) if raw else None)

    def close(self) -> None:
        self._client = None
