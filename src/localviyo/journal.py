"""The request journal: what clients sent to the Klaviyo API and what they got back, for tests to assert on.

Bounded (the oldest entries go first), in this process's memory, and never showing a whole API key: the
`Authorization` header is read with the key masked to its label (`pk_abc…wxyz`). Recording keeps what
the request already holds, and the masking and decoding happen when an entry is read, so the journal
costs a request next to nothing.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from localviyo.api.querystring import parse_query
from localviyo.core.keys import label

MAX_BODY = 64 * 1024  # bodies kept per entry; longer ones are cut, and say so


@dataclass(frozen=True, slots=True)
class Entry:
    """One request and its response, as received and sent: headers, bodies and query are read into their
    public forms (masked key, JSON) when asked for."""

    id: int
    time: float
    method: str
    path: str
    query_string: str
    raw_headers: dict[str, str]
    raw_body: bytes
    status: int
    raw_response: bytes
    operation: str | None = None
    account: str | None = None
    duration_ms: float = 0.0

    @property
    def headers(self) -> dict[str, str]:
        headers = dict(self.raw_headers)
        if "authorization" in headers:
            headers["authorization"] = mask_authorization(headers["authorization"])
        return headers

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_query(self.query_string))

    @property
    def body(self) -> Any:
        return _content(self.raw_body)

    @property
    def response(self) -> Any:
        return _content(self.raw_response)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
            "status": self.status,
            "response": self.response,
            "operation": self.operation,
            "account": self.account,
            "duration_ms": self.duration_ms,
        }


SCHEMES = ("klaviyo-api-key", "bearer", "basic")


def mask_authorization(value: str) -> str:
    """Whatever the header holds, never the whole key: a known scheme keeps its name and the credential
    its label (`pk_abc…wxyz`); anything else is masked whole."""
    scheme, _, credential = value.strip().partition(" ")
    if scheme.lower() not in SCHEMES:
        scheme, credential = "", value.strip()
    credential = credential.strip()
    masked = label(credential) if len(credential) >= 16 else "***"
    return f"{scheme} {masked}".strip()


def _content(raw: bytes) -> Any:
    """A body as JSON when it is JSON, else as text; one over MAX_BODY is cut, and says so."""
    if not raw:
        return None
    if len(raw) <= MAX_BODY:
        try:
            return msgspec.json.decode(raw)
        except msgspec.DecodeError:
            pass
    text = raw[:MAX_BODY].decode("utf-8", "replace")
    return text if len(raw) <= MAX_BODY else text + "… (cut)"


# An entry as recorded: Entry's fields in order, the last one the duration, rounded only when read.
_Raw = tuple[int, float, str, str, str, dict[str, str], bytes, int, bytes, str | None, str | None, float]


class Journal:
    def __init__(self, size: int = 1000) -> None:
        self.size = size
        # Raw tuples, in Entry's field order: an Entry (a frozen dataclass, slow to build) is made only when
        # someone reads the journal, which tests do far less often than the server records.
        self._entries: deque[_Raw] = deque(maxlen=max(size, 1))
        self._lock = threading.Lock()
        self._next = 1

    def record(
        self,
        time: float,
        method: str,
        path: str,
        query_string: str,
        headers: dict[str, str],
        body: bytes,
        status: int,
        response: bytes,
        operation: str | None,
        account: str | None,
        duration_ms: float,
    ) -> None:
        """`headers` is kept as given, not copied: the caller must not change it afterwards."""
        if self.size <= 0:
            return
        with self._lock:
            self._entries.append(
                (
                    self._next,
                    time,
                    method,
                    path,
                    query_string,
                    headers,
                    body[: MAX_BODY + 1],
                    status,
                    response[: MAX_BODY + 1],
                    operation,
                    account,
                    duration_ms,
                )
            )
            self._next += 1

    def find(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        operation: str | None = None,
        account: str | None = None,
    ) -> list[Entry]:
        """Entries matching every criterion given; `path` matches with or without the trailing slash."""
        wanted_path = path.rstrip("/") if path is not None else None
        return [
            entry
            for entry in self
            if (method is None or entry.method == method.upper())
            and (wanted_path is None or entry.path.rstrip("/") == wanted_path)
            and (status is None or entry.status == status)
            and (operation is None or entry.operation == operation)
            and (account is None or entry.account == account)
        ]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __iter__(self) -> Iterator[Entry]:
        with self._lock:
            raw = list(self._entries)
        return iter([Entry(*fields[:-1], round(fields[-1], 3)) for fields in raw])

    def __len__(self) -> int:
        return len(self._entries)
