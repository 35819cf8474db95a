"""Filter trees and keyset positions as SQL, for every SQL store.

Values always travel as parameters, never inside the SQL text. Every condition is written so that it is
true or false, never NULL (a profile without an email is simply not equal to one), so `not(...)` means
what `core.filter.matches` says it means.
"""

from __future__ import annotations

from typing import Any

from localviyo.core.filter import And, Comparison, Node, Not, Or
from localviyo.core.listing import Position, Sort

COLUMNS = {
    "id": "id",
    "email": "email_key",
    "phone_number": "phone_number_key",
    "external_id": "external_id",
    "_kx": "kx_key",
    "created": "created",
    "updated": "updated",
}
# Identifier lookups for profile-import, in priority order.
LOOKUP_COLUMNS = {
    "email": "email_key",
    "phone_number": "phone_number_key",
    "external_id": "external_id",
    "anonymous_id": "anonymous_id_key",
    "kx": "kx_key",
}
SORT_EXPRESSIONS = {
    "id": "id",
    "created": "created",
    "updated": "updated",
    "email": "email_sort",  # the lowercased email, '' without one: a column, so its index serves pages
}
_OPERATORS = {"greater-than": ">", "less-than": "<", "greater-or-equal": ">=", "less-or-equal": "<="}


class Compiler:
    def __init__(self, placeholder: str = "?") -> None:
        self.placeholder = placeholder

    def where(self, node: Node, params: list[Any]) -> str:
        if isinstance(node, And | Or):
            joiner = " AND " if isinstance(node, And) else " OR "
            return "(" + joiner.join(self.where(term, params) for term in node.terms) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.where(node.term, params)})"
        return self._comparison(node, params)

    def _comparison(self, node: Comparison, params: list[Any]) -> str:
        column = COLUMNS.get(node.field)
        if column is None:
            return "(1 = 0)"  # suppression fields: no profile has suppressions yet
        value = node.value
        if node.field == "email":
            value = tuple(v.lower() for v in value) if isinstance(value, tuple) else value.lower()
        if node.operator == "equals":
            params.append(value)
            return f"({column} IS NOT NULL AND {column} = {self.placeholder})"
        if node.operator == "any":
            params.extend(value)
            marks = ", ".join([self.placeholder] * len(value))
            return f"({column} IS NOT NULL AND {column} IN ({marks}))"
        params.append(value)
        return f"({column} IS NOT NULL AND {column} {_OPERATORS[node.operator]} {self.placeholder})"

    def order(self, sort: Sort, backwards: bool) -> str:
        direction = "DESC" if sort.descending != backwards else "ASC"
        if sort.field not in SORT_EXPRESSIONS:
            return f"id {direction}"  # a constant sort value: ties everywhere, so id alone orders
        return f"{self.sort_expression(sort)} {direction}, id {direction}"

    def sort_expression(self, sort: Sort) -> str:
        return SORT_EXPRESSIONS.get(sort.field, "0")

    def beyond(self, sort: Sort, start: Position, backwards: bool, params: list[Any]) -> str:
        """Rows strictly past `start` in the direction of travel, as one row-value comparison, which both
        databases answer with a range scan of the (account_id, sort column, id) index: a page costs the
        same however deep it is."""
        comparison = "<" if sort.descending != backwards else ">"
        value, profile_id = start
        mark = self.placeholder
        if sort.field not in SORT_EXPRESSIONS:
            params.append(profile_id)  # a constant sort value: the order is the id's
            return f"id {comparison} {mark}"
        params.extend([value, profile_id])
        return f"(({self.sort_expression(sort)}, id) {comparison} ({mark}, {mark}))"
