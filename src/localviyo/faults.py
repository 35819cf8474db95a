"""Faults on purpose: make the next N matching requests fail, or answer late, so users can test their
retries against Klaviyo's real error bodies.

A rule matches by operation (`update_profile`), method, path (with or without the trailing slash; a
trailing `*` matches a prefix) and account name; every criterion left out matches anything. A rule with a
`status` makes the request fail with that status and Klaviyo's body for it (429 carries `Retry-After`);
one with only `latency` lets it through late. Nothing reaches the store, and the rate limiter does not
count the request.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from localviyo.errors import APIError, ServerError, Throttled

STATUSES = (429, 500, 502, 503, 504)
INVALID_RULE = "Invalid fault: {problem}."


class BadGateway(APIError):
    status, code, title = 502, "bad_gateway", "Bad gateway."


class ServiceUnavailable(APIError):
    status, code, title = 503, "service_unavailable", "Service temporarily unavailable."


class GatewayTimeout(APIError):
    status, code, title = 504, "gateway_timeout", "Gateway timeout."


@dataclass(slots=True)
class Fault:
    id: int
    status: int | None = None
    times: int = 1  # how many more requests it hits
    latency: float = 0.0  # seconds
    retry_after: int = 1
    operation: str | None = None
    method: str | None = None
    path: str | None = None
    account: str | None = None

    def matches(self, operation: str, method: str, path: str, account: str | None) -> bool:
        if self.path is not None:
            if self.path.endswith("*"):
                if not path.startswith(self.path[:-1]):
                    return False
            elif path.rstrip("/") != self.path.rstrip("/"):
                return False
        return (
            (self.operation is None or self.operation == operation)
            and (self.method is None or self.method.upper() == method)
            and (self.account is None or self.account == account)
        )

    def error(self) -> APIError | None:
        if self.status is None:
            return None
        if self.status == 429:
            return Throttled(self.retry_after)
        cls = {500: ServerError, 502: BadGateway, 503: ServiceUnavailable, 504: GatewayTimeout}[self.status]
        message = "A server error occurred." if self.status == 500 else f"{cls.title} (a fault set on purpose)"
        return cls(message)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_rule(document: Any, fault_id: int) -> Fault:
    """A fault from its JSON (see the README's admin API); ValueError says what is wrong."""
    if not isinstance(document, dict):
        raise ValueError(INVALID_RULE.format(problem="expected a JSON object"))
    known = {"status", "times", "latency", "retry_after", "operation", "method", "path", "account"}
    unknown = sorted(set(document) - known)
    if unknown:
        raise ValueError(INVALID_RULE.format(problem=f"unknown member(s) {', '.join(unknown)}"))
    status, latency = document.get("status"), document.get("latency", 0)
    if status is not None and status not in STATUSES:
        raise ValueError(INVALID_RULE.format(problem=f"status must be one of {', '.join(map(str, STATUSES))}"))
    if not isinstance(latency, int | float) or isinstance(latency, bool) or not 0 <= latency <= 60:
        raise ValueError(INVALID_RULE.format(problem="latency must be a number of seconds from 0 to 60"))
    if status is None and not latency:
        raise ValueError(INVALID_RULE.format(problem="give a status, a latency or both"))
    times, retry_after = document.get("times", 1), document.get("retry_after", 1)
    for name, value in (("times", times), ("retry_after", retry_after)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(INVALID_RULE.format(problem=f"{name} must be a whole number of at least 1"))
    for name in ("operation", "method", "path", "account"):
        if document.get(name) is not None and not isinstance(document[name], str):
            raise ValueError(INVALID_RULE.format(problem=f"{name} must be a string"))
    return Fault(
        fault_id,
        status,
        times,
        float(latency),
        retry_after,
        document.get("operation"),
        document.get("method"),
        document.get("path"),
        document.get("account"),
    )


class Faults:
    def __init__(self) -> None:
        self._rules: list[Fault] = []
        self._lock = threading.Lock()
        self._next = 1

    def add(self, document: Any) -> Fault:
        with self._lock:
            fault = parse_rule(document, self._next)
            self._next += 1
            self._rules.append(fault)
            return fault

    def take(self, operation: str, method: str, path: str, account: str | None) -> Fault | None:
        """The first rule matching this request, counted as used; spent rules go away."""
        if not self._rules:
            return None
        with self._lock:
            for fault in self._rules:
                if fault.matches(operation, method, path, account):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._rules.remove(fault)
                    return fault
        return None

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._rules)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
