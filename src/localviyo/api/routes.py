"""The API surface, one row per operation: Klaviyo's operationId, method, path, scopes, rate limits.

Scopes and rates are those of `x-klaviyo-scopes` and `x-klaviyo-ratelimit` in Klaviyo's spec;
tests/test_spec_parity.py holds every row to it. Paths are written without the trailing slash; both
forms are served.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from localviyo.api import profiles
from localviyo.api.request import Request, Response
from localviyo.ratelimit import Limits
from localviyo.service import ProfileService

Handler = Callable[[Request, ProfileService], Response]
# Some requests fall in another tier than their operation's: (bucket suffix, limits) or None.
Tier = Callable[[Request], tuple[str, Limits] | None]

L = Limits.parse("75/s", "700/m")
L_2025 = Limits.parse("75/s", "750/m")  # the steady L tier rose to 750/m for these operations
M = Limits.parse("10/s", "150/m")
FIRST = "2023-01-24"


@dataclass(frozen=True, slots=True)
class Operation:
    id: str
    method: str
    path: str
    scopes: tuple[str, ...]
    limits: tuple[tuple[str, Limits], ...]  # (from revision, limits), latest last
    handler: Handler
    since: str = FIRST  # the first revision that has the operation
    tier: Tier | None = None

    def limits_for(self, revision: str) -> Limits:
        chosen = self.limits[0][1]
        for since, limits in self.limits:
            if revision >= since:
                chosen = limits
        return chosen


STEADY_750 = "2025-10-15"
PROFILE_LIMITS = ((FIRST, L), (STEADY_750, L_2025))


def predictive_tier(request: Request) -> tuple[str, Limits] | None:
    """Asking for predictive analytics puts a listing in the 10/s, 150/m tier (Klaviyo's spec)."""
    if "predictive_analytics" in request.query.get("additional-fields[profile]", ""):
        return "predictive_analytics", M
    return None


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "get_profiles",
        "GET",
        "/api/profiles",
        ("profiles:read",),
        PROFILE_LIMITS,
        profiles.get_profiles,
        tier=predictive_tier,
    ),
    Operation("create_profile", "POST", "/api/profiles", ("profiles:write",), PROFILE_LIMITS, profiles.create_profile),
    Operation("get_profile", "GET", "/api/profiles/{id}", ("profiles:read",), PROFILE_LIMITS, profiles.get_profile),
    Operation(
        "update_profile", "PATCH", "/api/profiles/{id}", ("profiles:write",), PROFILE_LIMITS, profiles.update_profile
    ),
    Operation(
        "create_or_update_profile",
        "POST",
        "/api/profile-import",
        ("profiles:write",),
        PROFILE_LIMITS,
        profiles.create_or_update_profile,
        since="2024-02-15",
    ),
    Operation(
        "merge_profiles",
        "POST",
        "/api/profile-merge",
        ("profiles:write",),
        ((FIRST, M),),
        profiles.merge_profiles,
    ),
)


class Router:
    """Matches `/api/profiles/01H…` (with or without the trailing slash) to its operations by method."""

    def __init__(self, operations: tuple[Operation, ...]) -> None:
        self._routes: dict[tuple[str, ...], dict[str, Operation]] = {}
        for operation in operations:
            pattern = tuple(operation.path.strip("/").split("/"))
            self._routes.setdefault(pattern, {})[operation.method] = operation

    def match(self, path: str) -> tuple[dict[str, Operation], dict[str, str]] | None:
        segments = tuple(path.strip("/").split("/")) if path != "/" else ("",)
        if path.endswith("//") or "" in segments[:-1]:
            return None
        for pattern, methods in self._routes.items():
            if len(pattern) != len(segments):
                continue
            params: dict[str, str] = {}
            for want, got in zip(pattern, segments, strict=True):
                if want.startswith("{"):
                    if not got:
                        break
                    params[want[1:-1]] = got
                elif want != got:
                    break
            else:
                return methods, params
        return None
