"""Ordering and keyset positions for get_profiles.

A page is "the next `size` profiles after a position" in an order of (sort value, id), so its cost does
not grow with its depth and a profile inserted meanwhile neither repeats nor hides another. `sort_value`
is the reference each store's SQL must agree with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from localviyo.core.profile import Profile

SUPPRESSION_TIMESTAMP = "subscriptions.email.marketing.suppression.timestamp"
LIST_SUPPRESSION_TIMESTAMP = "subscriptions.email.marketing.list_suppressions.timestamp"
SORT_FIELDS = ("created", "email", "id", "updated", LIST_SUPPRESSION_TIMESTAMP, SUPPRESSION_TIMESTAMP)
SORTS = tuple(name for field in SORT_FIELDS for name in (field, f"-{field}"))


@dataclass(frozen=True, slots=True)
class Sort:
    field: str
    descending: bool = False

    @classmethod
    def parse(cls, text: str) -> Sort:
        return cls(text.removeprefix("-"), text.startswith("-"))

    def __str__(self) -> str:
        return f"-{self.field}" if self.descending else self.field


DEFAULT_SORT = Sort("id")

# A position in an order: the sort value of a profile, then its id to break ties.
Position = tuple[Any, str]


def sort_value(profile: Profile, field: str) -> Any:
    """Never None, so every profile has a place: no email sorts as "", no suppression as 0."""
    if field == "email":
        return (profile.email or "").lower()
    if field in ("created", "updated"):
        return getattr(profile, field)
    if field == "id":
        return profile.id
    return 0  # suppression timestamps: no profile has one yet


def position(profile: Profile, sort: Sort) -> Position:
    return (sort_value(profile, sort.field), profile.id)


def after(profile: Profile, sort: Sort, start: Position, backwards: bool) -> bool:
    """Whether `profile` comes after `start` in the order (before it, when walking backwards)."""
    mine = position(profile, sort)
    forward = mine < start if sort.descending else mine > start
    return mine != start and (forward != backwards)
