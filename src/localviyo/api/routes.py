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
    """Matches `/api/profiles/01H…` (with or without the trailing slash) to its operations by method.

    Paths are fixed (`/api/profiles`) or end in one parameter (`/api/profiles/{id}`): two dictionary
    lookups find any route.
    """

    def __init__(self, operations: tuple[Operation, ...]) -> None:
        self._fixed: dict[str, dict[str, Operation]] = {}
        self._last_param: dict[str, tuple[str, dict[str, Operation]]] = {}
        for operation in operations:
            prefix, _, last = operation.path.rpartition("/")
            if last.startswith("{"):
                _, methods = self._last_param.setdefault(prefix, (last[1:-1], {}))
                methods[operation.method] = operation
            else:
                self._fixed.setdefault(operation.path, {})[operation.method] = operation

    def match(self, path: str) -> tuple[dict[str, Operation], dict[str, str]] | None:
        if path.endswith("/"):
            path = path[:-1]  # one trailing slash is the same route; two are not
        methods = self._fixed.get(path)
        if methods is not None:
            return methods, {}
        prefix, _, value = path.rpartition("/")
        found = self._last_param.get(prefix)
        if found is None or not value:
            return None
        return found[1], {found[0]: value}
