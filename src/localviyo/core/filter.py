"""Klaviyo's filter language for get_profiles, parsed into a tree.

    filter   := term ("," term)*                    a top-level comma is AND
    term     := name "(" field "," value ")"        equals, any, greater-than, less-than, ...
              | ("and" | "or") "(" term ("," term)+ ")"
              | "not" "(" term ")"
    value    := "string" | 'string' | number | true | false | datetime | "[" value ("," value)* "]"

Only the fields and operators Klaviyo's spec allows for the endpoint are accepted. The tree is evaluated in
Python (`matches`, the reference) and compiled to SQL by each store; tests hold the two to the same answers.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from localviyo.core.profile import Profile
from localviyo.errors import Invalid

Scalar = str | int | float | bool


@dataclass(frozen=True, slots=True)
class Comparison:
    operator: str  # equals, any, greater-than, less-than, greater-or-equal, less-or-equal
    field: str
    value: Any  # a Scalar, a float timestamp for datetime fields, or a tuple of them for `any`


@dataclass(frozen=True, slots=True)
class And:
    terms: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    terms: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    term: Node


Node = Comparison | And | Or | Not

SUPPRESSION = "subscriptions.email.marketing.suppression"
LIST_SUPPRESSIONS = "subscriptions.email.marketing.list_suppressions"
_ORDER = ("greater-than", "greater-or-equal", "less-than", "less-or-equal")
# Field -> (kind of value, operators), as `filter` is described for GET /api/profiles/ in Klaviyo's spec.
PROFILE_FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "id": ("string", ("any", "equals")),
    "email": ("string", ("any", "equals")),
    "phone_number": ("string", ("any", "equals")),
    "external_id": ("string", ("any", "equals")),
    "_kx": ("string", ("equals",)),
    "created": ("datetime", ("greater-than", "less-than")),
    "updated": ("datetime", ("greater-than", "less-than")),
    f"{SUPPRESSION}.timestamp": ("datetime", _ORDER),
    f"{SUPPRESSION}.reason": ("string", ("equals",)),
    f"{LIST_SUPPRESSIONS}.list_id": ("string", ("equals",)),
    f"{LIST_SUPPRESSIONS}.reason": ("string", ("equals",)),
    f"{LIST_SUPPRESSIONS}.timestamp": ("datetime", _ORDER),
}
COMPARISONS = ("equals", "any", *_ORDER)
LOGICAL = ("and", "or", "not")

INVALID = "Invalid filter provided: {problem} (at position {position})."
MAX_DEPTH = 10  # and/or/not inside each other
MAX_CONDITIONS = 100
MAX_VALUES = 1000  # in one `any` list

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<punct>[(),\[\]])
    | (?P<word>[^\s(),\[\]"']+(?:\s(?=\d\d:?\d\d(?:[),\]]|$)))?[^\s(),\[\]"']*)
    )""",
    re.VERBOSE,
)
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?(?:Z|[+-]\d{2}:?\d{2})?$")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # string, punct, word, end
    text: str
    position: int


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise Invalid(INVALID.format(problem="unexpected character", position=position), parameter="filter")
        kind = match.lastgroup or "word"
        tokens.append(_Token(kind, match.group(kind), match.start(kind)))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def parse_datetime(text: str) -> float | None:
    """ISO 8601 date or datetime; `Z`, `+00:00` or a `+` that arrived as a space; naive means UTC."""
    text = text.strip()
    if not _DATETIME.match(text.replace(" ", "T", 1) if len(text) > 10 and text[10] == " " else text):
        # a "+00:00" whose "+" was not URL-encoded arrives as " 00:00"
        repaired = re.sub(r" (\d{2}:?\d{2})$", r"+\1", text)
        if repaired == text or not _DATETIME.match(repaired):
            return None
        text = repaired
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class _Parser:
    def __init__(self, text: str) -> None:
        if "\x00" in text:
            raise Invalid(INVALID.format(problem="NUL characters", position=text.index("\x00")), parameter="filter")
        self.tokens = _tokens(text)
        self.index = 0
        self.depth = 0
        self.conditions = 0

    def fail(self, problem: str, token: _Token | None = None) -> Invalid:
        token = token or self.tokens[self.index]
        return Invalid(INVALID.format(problem=problem, position=token.position), parameter="filter")

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self, text: str | None = None, kind: str | None = None) -> _Token:
        token = self.peek()
        if (text is not None and token.text != text) or (kind is not None and token.kind != kind):
            wanted = f"'{text}'" if text else ("the end of the filter" if kind == "end" else kind)
            found = f"'{token.text}'" if token.kind != "end" else "the end of the filter"
            raise self.fail(f"expected {wanted}, found {found}")
        self.index += 1
        return token

    def filter(self) -> Node:
        terms = [self.term()]
        while self.peek().text == ",":
            self.take(",")
            terms.append(self.term())
        self.take(kind="end")
        return terms[0] if len(terms) == 1 else And(tuple(terms))

    def term(self) -> Node:
        name = self.take(kind="word")
        self.take("(")
        if name.text in LOGICAL:
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.fail(f"conditions nest more than {MAX_DEPTH} levels deep", name)
            try:
                return self.logical(name)
            finally:
                self.depth -= 1
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise self.fail(f"more than {MAX_CONDITIONS} conditions", name)
        return self.comparison(name)

    def logical(self, name: _Token) -> Node:
        if name.text in ("and", "or"):
            terms = [self.term()]
            while self.peek().text == ",":
                self.take(",")
                terms.append(self.term())
            self.take(")")
            if len(terms) < 2:
                raise self.fail(f"'{name.text}' needs at least two conditions", name)
            return And(tuple(terms)) if name.text == "and" else Or(tuple(terms))
        term = self.term()
        self.take(")")
        return Not(term)

    def comparison(self, name: _Token) -> Node:
        if name.text not in COMPARISONS:
            raise self.fail(f"unknown operator '{name.text}'", name)
        field = self.take(kind="word")
        if field.text not in PROFILE_FIELDS:
            raise self.fail(f"'{field.text}' is not a field you can filter profiles on", field)
        kind, operators = PROFILE_FIELDS[field.text]
        if name.text not in operators:
            allowed = ", ".join(operators)
            raise self.fail(f"operator '{name.text}' is not allowed for '{field.text}' (allowed: {allowed})", name)
        self.take(",")
        start = self.peek()
        value = self.value()
        self.take(")")
        return Comparison(name.text, field.text, self.check(name.text, field.text, kind, value, start))

    def value(self) -> Any:
        token = self.peek()
        if token.text == "[":
            self.take("[")
            items = [self.scalar_value()]
            while self.peek().text == ",":
                self.take(",")
                items.append(self.scalar_value())
                if len(items) > MAX_VALUES:
                    raise self.fail(f"a list holds more than {MAX_VALUES} values", token)
            self.take("]")
            return tuple(items)
        return self.scalar_value()

    def scalar_value(self) -> Any:
        token = self.peek()
        if token.text == "[":
            raise self.fail("lists do not nest", token)
        self.index += 1
        if token.kind == "string":
            return _Quoted(re.sub(r"\\(.)", r"\1", token.text[1:-1]))
        if token.kind != "word":
            raise self.fail(f"expected a value, found '{token.text or 'the end of the filter'}'", token)
        if token.text in ("true", "false"):
            return token.text == "true"
        if _NUMBER.match(token.text):
            return float(token.text) if any(c in token.text for c in ".eE") else int(token.text)
        return _Bare(token.text)

    def check(self, operator: str, field: str, kind: str, value: Any, token: _Token) -> Any:
        if operator == "any":
            if not isinstance(value, tuple):
                raise self.fail(f'\'any\' takes a list of values, e.g. any({field},["a","b"])', token)
            return tuple(self.scalar(field, kind, item, token) for item in value)
        if isinstance(value, tuple):
            raise self.fail(f"'{operator}' takes a single value, not a list", token)
        return self.scalar(field, kind, value, token)

    def scalar(self, field: str, kind: str, value: Any, token: _Token) -> Any:
        if kind == "datetime":
            moment = parse_datetime(str(value)) if isinstance(value, str) else None
            if moment is None:
                raise self.fail(f"'{field}' takes a datetime such as 2023-03-01T00:00:00Z", token)
            return moment
        if not isinstance(value, _Quoted):
            raise self.fail(f"'{field}' takes a quoted string", token)
        return str(value)


class _Quoted(str):
    """A string value written in quotes."""


class _Bare(str):
    """An unquoted word that is neither a number nor a boolean: a datetime, or a mistake."""


# The commonest filter by far, one identifier equal to one quoted string written plainly, is read by one
# regular expression; anything else (spaces, escapes, NULs, other quotes, other fields) goes to the parser,
# which gives the same tree for what this matches (tests hold the two to it).
_IDENTIFIER_EQUALS = re.compile(r'equals\((id|email|phone_number|external_id|_kx),"([^"\\\x00]*)"\)')


def parse_filter(text: str) -> Node:
    """The tree of a filter; errors name the position of the problem."""
    plain = _IDENTIFIER_EQUALS.fullmatch(text)
    if plain is not None:
        return Comparison("equals", plain[1], plain[2])
    return _parse(text)


@functools.lru_cache(maxsize=1024)
def _parse(text: str) -> Node:
    """The same text parses once (trees are immutable); errors every time."""
    return _Parser(text).filter()


def _profile_value(profile: Profile, field: str) -> Any:
    if field == "email":
        return None if profile.email is None else profile.email.lower()
    if field == "_kx":
        return profile.kx
    if field.startswith("subscriptions."):
        return None  # no profile has suppressions yet
    return getattr(profile, field)


def _compare(operator: str, left: Any, right: Any) -> bool:
    if left is None:
        return False
    if operator == "equals":
        return bool(left == right)
    if operator == "any":
        return left in right
    if operator == "greater-than":
        return bool(left > right)
    if operator == "less-than":
        return bool(left < right)
    if operator == "greater-or-equal":
        return bool(left >= right)
    return bool(left <= right)


def matches(node: Node, profile: Profile) -> bool:
    """The reference semantics: what a store's compiled query must agree with."""
    if isinstance(node, And):
        return all(matches(term, profile) for term in node.terms)
    if isinstance(node, Or):
        return any(matches(term, profile) for term in node.terms)
    if isinstance(node, Not):
        return not matches(node.term, profile)
    value = node.value
    if node.field == "email":
        value = tuple(v.lower() for v in value) if isinstance(value, tuple) else value.lower()
    return _compare(node.operator, _profile_value(profile, node.field), value)
