"""core.filter: the filter language of get_profiles, and the stores' SQL held to `matches` and `position`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localviyo.clock import Ids, ManualClock
from localviyo.core.filter import (
    COMPARISONS,
    PROFILE_FIELDS,
    And,
    Comparison,
    Node,
    Not,
    Or,
    _parse,
    matches,
    parse_datetime,
    parse_filter,
)
from localviyo.core.listing import SORTS, Position, Sort, position
from localviyo.core.profile import Profile
from localviyo.errors import Invalid
from localviyo.service import ProfileService
from localviyo.storage.sqlite import SQLiteStore

BASE = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()
MARCH_1 = datetime(2023, 3, 1, tzinfo=UTC).timestamp()
PROPERTIES = settings(max_examples=200, deadline=None, derandomize=True)


def at(text: str) -> int:
    """The position a filter error names."""
    found = re.search(r"\(at position (\d+)\)\.$", text)
    assert found is not None, text
    return int(found.group(1))


def refused(text: str) -> Invalid:
    with pytest.raises(Invalid) as raised:
        parse_filter(text)
    assert raised.value.parameter == "filter"
    assert raised.value.pointer is None
    assert raised.value.detail.startswith("Invalid filter provided: ")
    return raised.value


# --- fields and operators ------------------------------------------------------------------------------


def _sample_value(field: str, operator: str) -> tuple[str, object]:
    kind, _ = PROFILE_FIELDS[field]
    if kind == "datetime":
        return "2023-03-01T00:00:00Z", MARCH_1
    if operator == "any":
        return '["a","b"]', ("a", "b")
    return '"a"', "a"


ALLOWED = [(field, operator) for field, (_, operators) in PROFILE_FIELDS.items() for operator in operators]
FORBIDDEN = [
    (field, operator)
    for field, (_, operators) in PROFILE_FIELDS.items()
    for operator in COMPARISONS
    if operator not in operators
]


def test_parse_filter_knows_exactly_the_fields_of_the_spec() -> None:
    assert {field: operators for field, (_, operators) in PROFILE_FIELDS.items()} == {
        "id": ("any", "equals"),
        "email": ("any", "equals"),
        "phone_number": ("any", "equals"),
        "external_id": ("any", "equals"),
        "_kx": ("equals",),
        "created": ("greater-than", "less-than"),
        "updated": ("greater-than", "less-than"),
        "subscriptions.email.marketing.suppression.timestamp": (
            "greater-than",
            "greater-or-equal",
            "less-than",
            "less-or-equal",
        ),
        "subscriptions.email.marketing.suppression.reason": ("equals",),
        "subscriptions.email.marketing.list_suppressions.list_id": ("equals",),
        "subscriptions.email.marketing.list_suppressions.reason": ("equals",),
        "subscriptions.email.marketing.list_suppressions.timestamp": (
            "greater-than",
            "greater-or-equal",
            "less-than",
            "less-or-equal",
        ),
    }


@pytest.mark.parametrize(("field", "operator"), ALLOWED)
def test_parse_filter_allowed_operator(field: str, operator: str) -> None:
    text, value = _sample_value(field, operator)
    assert parse_filter(f"{operator}({field},{text})") == Comparison(operator, field, value)


@pytest.mark.parametrize(("field", "operator"), FORBIDDEN)
def test_parse_filter_forbidden_operator_400_at_the_operator(field: str, operator: str) -> None:
    text, _ = _sample_value(field, operator)
    error = refused(f"{operator}({field},{text})")
    assert at(error.detail) == 0
    assert f"operator '{operator}' is not allowed for '{field}'" in error.detail
    assert "(allowed: " + ", ".join(PROFILE_FIELDS[field][1]) + ")" in error.detail


# --- values --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('equals(email,"a@b.com")', "a@b.com"),
        ("equals(email,'a@b.com')", "a@b.com"),
        (r'equals(email,"a\"b@c.com")', 'a"b@c.com'),
        (r"equals(email,'it\'s@c.com')", "it's@c.com"),
        ('equals(email,"it\'s@c.com")', "it's@c.com"),
        ("equals(email,'say\"hi\"@c.com')", 'say"hi"@c.com'),
        (r'equals(external_id,"back\\slash")', "back\\slash"),
        ('equals(external_id,"a,b)[c]")', "a,b)[c]"),
        ('equals(external_id,"")', ""),
        ('equals(email,"Mixed.Case@Example.COM")', "Mixed.Case@Example.COM"),
        ('  equals( email , "a@b.com" )  ', "a@b.com"),
    ],
)
def test_parse_filter_quoted_strings(text: str, value: str) -> None:
    assert parse_filter(text) == Comparison("equals", text.split("(")[1].split(",")[0].strip(), value)


@pytest.mark.parametrize(
    "text",
    [
        "greater-than(created,2023-03-01T00:00:00Z)",
        "greater-than(created,2023-03-01T00:00:00+00:00)",
        "greater-than(created,2023-03-01T00:00:00 00:00)",  # "+" not URL-encoded: arrived as a space
        "greater-than(created,2023-03-01T02:00:00+02:00)",
        "greater-than(created,2023-03-01T05:30:00 05:30)",
        "greater-than(created,2023-02-28T19:00:00-05:00)",
        "greater-than(created,2023-02-28T19:00:00-0500)",
        "greater-than(created,2023-03-01T00:00:00)",  # naive means UTC
        "greater-than(created,2023-03-01T00:00)",
        "greater-than(created,2023-03-01)",
        'greater-than(created,"2023-03-01T00:00:00Z")',
        "greater-than(created,'2023-03-01T00:00:00+00:00')",
        "greater-than(created, 2023-03-01T00:00:00Z )",
    ],
)
def test_parse_filter_datetimes(text: str) -> None:
    assert parse_filter(text) == Comparison("greater-than", "created", MARCH_1)


def test_parse_filter_datetime_fraction_of_a_second() -> None:
    node = parse_filter("less-than(updated,2023-03-01T00:00:00.5Z)")
    assert node == Comparison("less-than", "updated", MARCH_1 + 0.5)
    node = parse_filter("less-than(updated,2023-03-01T00:00:00.123456+00:00)")
    assert isinstance(node, Comparison) and node.value == pytest.approx(MARCH_1 + 0.123456)


def test_parse_datetime_plus_as_space_and_refusals() -> None:
    assert parse_datetime("2023-03-01T00:00:00 00:00") == MARCH_1
    assert parse_datetime("2023-03-01T01:00:00 0100") == MARCH_1
    assert parse_datetime("2023-03-01 00:00:00") == MARCH_1
    for text in ("2023-13-01T00:00:00Z", "2024-02-30", "yesterday", "5", "2023-03-01T00:00:00 00", ""):
        assert parse_datetime(text) is None, text


@given(
    field=st.sampled_from(["id", "email", "phone_number", "external_id", "_kx", "created"]),
    value=st.text(max_size=30),
    spaced=st.booleans(),
)
def test_parse_filter_plain_identifier_equals_reads_as_the_parser_does(field: str, value: str, spaced: bool) -> None:
    # The one-regex path for equals(identifier,"value") must give the parser's tree, or the parser's error.
    text = f'equals({field}, "{value}")' if spaced else f'equals({field},"{value}")'
    try:
        expected: Node | str = _parse(text)
    except Invalid as error:
        expected = error.detail
    try:
        got: Node | str = parse_filter(text)
    except Invalid as error:
        got = error.detail
    assert got == expected
    assert type(got) is type(expected)
    if isinstance(got, Comparison):
        assert type(got.value) is str  # a plain str, as the parser leaves it, not its _Quoted


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('any(email,["a@x.com","b@x.com"])', ("a@x.com", "b@x.com")),
        ("any(email,['a@x.com','b@x.com'])", ("a@x.com", "b@x.com")),  # as FilterBuilder writes it
        ("any(email,[\"a@x.com\",'b@x.com'])", ("a@x.com", "b@x.com")),
        ('any(email,["only@x.com"])', ("only@x.com",)),
        ('any(email,[ "a@x.com" , "b@x.com" ])', ("a@x.com", "b@x.com")),
    ],
)
def test_parse_filter_any_takes_a_list(text: str, value: tuple[str, ...]) -> None:
    assert parse_filter(text) == Comparison("any", "email", value)


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("equals(email,5)", "5"),
        ("equals(email,5.5)", "5.5"),
        ("equals(phone_number,15005550006)", "15005550006"),
        ("equals(external_id,-1e3)", "-1e3"),
        ("equals(email,true)", "true"),
        ("equals(id,false)", "false"),
        ("equals(email,a@b.com)", "a@b.com"),
        ("equals(_kx,2023-03-01T00:00:00Z)", "2023-03-01T00:00:00Z"),
        ('any(id,["a",1])', '["a",1]'),
        ('any(email,["a",true])', '["a",true]'),
        ("equals(subscriptions.email.marketing.suppression.reason,HARD_BOUNCE)", "HARD_BOUNCE"),
    ],
)
def test_parse_filter_string_field_refuses_other_values(text: str, token: str) -> None:
    error = refused(text)
    assert "takes a quoted string" in error.detail
    assert text[at(error.detail) :].startswith(token)


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("greater-than(created,nonsense)", "nonsense"),
        ("greater-than(created,5)", "5"),
        ("greater-than(created,true)", "true"),
        ("greater-than(created,2023-13-01T00:00:00Z)", "2023-13-01"),
        ("greater-than(created,2024-02-30T00:00:00Z)", "2024-02-30"),
        ('greater-than(updated,"not a date")', '"not a date"'),
        ("less-than(updated,'')", "''"),
        ("less-or-equal(subscriptions.email.marketing.suppression.timestamp,1677628800)", "1677628800"),
    ],
)
def test_parse_filter_datetime_field_refuses_other_values(text: str, token: str) -> None:
    error = refused(text)
    field = text.split("(")[1].split(",")[0]
    assert f"'{field}' takes a datetime such as 2023-03-01T00:00:00Z" in error.detail
    assert text[at(error.detail) :].startswith(token)


# --- nesting -------------------------------------------------------------------------------------------


def test_parse_filter_top_level_comma_is_and() -> None:
    text = "less-than(updated,2023-04-26T00:00:00Z),greater-than(updated,2023-04-19T00:00:00Z)"
    assert parse_filter(text) == And(
        (
            Comparison("less-than", "updated", datetime(2023, 4, 26, tzinfo=UTC).timestamp()),
            Comparison("greater-than", "updated", datetime(2023, 4, 19, tzinfo=UTC).timestamp()),
        )
    )
    three = parse_filter('equals(email,"a"),equals(id,"b"), equals(_kx,"c")')
    assert three == And(
        (Comparison("equals", "email", "a"), Comparison("equals", "id", "b"), Comparison("equals", "_kx", "c"))
    )


def test_parse_filter_and_or_not_nest() -> None:
    text = 'or(and(equals(email,"a"),not(equals(id,"b"))),not(or(equals(_kx,"c"),any(phone_number,["+1"]))))'
    assert parse_filter(text) == Or(
        (
            And((Comparison("equals", "email", "a"), Not(Comparison("equals", "id", "b")))),
            Not(Or((Comparison("equals", "_kx", "c"), Comparison("any", "phone_number", ("+1",))))),
        )
    )
    assert parse_filter('not(not(equals(email,"a")))') == Not(Not(Comparison("equals", "email", "a")))
    assert parse_filter('and(equals(email,"a"),equals(email,"b"),equals(email,"c"))') == And(
        tuple(Comparison("equals", "email", value) for value in "abc")
    )


# --- errors: what and where ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem", "token"),
    [
        ("", "expected word, found the end of the filter", None),
        ("   ", "expected word, found the end of the filter", None),
        ('foo(email,"a")', "unknown operator 'foo'", "foo"),
        ('AND(equals(email,"a"),equals(id,"b"))', "unknown operator 'AND'", "AND"),
        ('equals(first_name,"a")', "'first_name' is not a field you can filter profiles on", "first_name"),
        ('equals(EMAIL,"a")', "'EMAIL' is not a field you can filter profiles on", "EMAIL"),
        ('equals(anonymous_id,"a")', "'anonymous_id' is not a field you can filter profiles on", "anonymous_id"),
        ('and(equals(email,"a"))', "'and' needs at least two conditions", "and("),
        ('or(equals(email,"a"))', "'or' needs at least two conditions", "or("),
        ('not(equals(email,"a"),equals(email,"b"))', "expected ')', found ','", ',equals(email,"b"))'),
        ('equals(email,"a"', "expected ')', found the end of the filter", None),
        ('equals(email,"a"))', "expected the end of the filter, found ')'", ")"),
        ('equals(email "a")', "expected ',', found '\"a\"'", '"a"'),
        ('equals(email,"a"),', "expected word, found the end of the filter", None),
        (',equals(email,"a")', "expected word, found ','", ","),
        ('equals(,"a")', "expected word, found ','", ',"a")'),
        ("equals(email,)", "expected a value, found ')'", ")"),
        ("equals", "expected '(', found the end of the filter", None),
        ('equals(email,"a")equals(id,"b")', "expected the end of the filter, found 'equals'", 'equals(id,"b")'),
        ('equals(email,"a")@', "expected the end of the filter, found '@'", "@"),
        ('equals(email,"unterminated)', "unexpected character", '"unterminated)'),
        ("equals(email,'unterminated)", "unexpected character", "'unterminated)"),
        ('any(email,"a")', "'any' takes a list of values", '"a"'),
        ('equals(email,["a"])', "'equals' takes a single value, not a list", '["a"]'),
        ("any(email,[])", "expected a value, found ']'", "]"),
        ('any(email,["a","b")', "expected ']', found ')'", ")"),
        ('any(email,["a" "b"])', "expected ']', found '\"b\"'", '"b"'),
        ('equals(email,"a"),and(equals(id,"b"),foo(id,"c"))', "unknown operator 'foo'", 'foo(id,"c")'),
    ],
)
def test_parse_filter_error_says_what_and_where(text: str, problem: str, token: str | None) -> None:
    error = refused(text)
    assert problem in error.detail
    position = at(error.detail)
    if token is None:
        assert position == len(text)
    else:
        assert text[position:].startswith(token), (position, text[position:])
    assert error.detail == f"Invalid filter provided: {error.detail.split(': ', 1)[1]}"


def test_parse_filter_error_detail_exact() -> None:
    error = refused('equals(first_name,"Sarah")')
    assert error.detail == (
        "Invalid filter provided: 'first_name' is not a field you can filter profiles on (at position 7)."
    )
    assert error.status == 400
    assert error.code == "invalid"


# --- matches: the reference ----------------------------------------------------------------------------


def test_matches_email_case_insensitively_and_nothing_matches_null() -> None:
    profile = Profile(id="01A", email="Sarah.Mason@Klaviyo-Demo.com", phone_number="+15005550006")
    assert matches(parse_filter('equals(email,"sarah.mason@klaviyo-demo.com")'), profile)
    assert matches(parse_filter('any(email,["x@y.z","SARAH.MASON@KLAVIYO-DEMO.COM"])'), profile)
    assert not matches(parse_filter('equals(external_id,"")'), profile)
    assert matches(parse_filter('not(equals(external_id,""))'), profile)
    assert not matches(parse_filter('equals(phone_number,"+15005550007")'), profile)
    assert not matches(parse_filter('equals(subscriptions.email.marketing.suppression.reason,"BOUNCE")'), profile)


# --- the stores' SQL held to `matches` and `position` ---------------------------------------------------


def _profiles() -> list[Profile]:
    """~40 profiles with every identifier sometimes missing, mixed-case emails, tied timestamps."""
    clock = ManualClock(BASE)
    ids = Ids(clock, seed=20240215)
    names = ["Alice", "bob", "CAROL", "o'neil", "Dave.Smith", "erin+tag", "frank", "Zoë", "gus", "Hal"]
    domains = ["Example.com", "example.org", "EXAMPLE.NET"]
    profiles: list[Profile] = []
    for i in range(40):
        # ids come from shuffled moments, so id order is neither created nor email order
        clock.set(BASE + ((i * 17) % 40) * 7.0)
        name = names[i % len(names)]
        email = None if i % 7 == 3 else f"{name}{i // len(names) or ''}@{domains[i % 3]}"
        created = BASE + (i // 3) * 60 + (0.5 if i % 5 == 0 else 0.0)
        profiles.append(
            Profile(
                id=ids.ulid(),
                email=email,
                phone_number=None if i % 3 == 1 else f"+1500555{i:04d}",
                external_id=None if i % 4 else ('ext"' + str(i) if i % 8 == 0 else f"ext,{i})"),
                kx=None if i % 5 else f"kx{i}",
                anonymous_id=f"anon{i}" if email is None else None,
                first_name=name,
                created=created,
                updated=created + (i % 4) * 30,
            )
        )
    return profiles


PROFILES = _profiles()
OTHER_ACCOUNT_PROFILES = [
    Profile(id=f"01ZZZZZZZZZZZZZZZZZZZZZZZ{i}", email=PROFILES[i].email, created=BASE, updated=BASE) for i in range(5)
]

_emails = [profile.email for profile in PROFILES if profile.email is not None]
STRINGS: dict[str, list[str]] = {
    "id": [profile.id for profile in PROFILES[::4]] + [OTHER_ACCOUNT_PROFILES[0].id, "01GDDKASAP8TKDDA2GRZDSVP4H"],
    "email": [
        *_emails[::3],
        *(email.upper() for email in _emails[1::5]),
        *(email.lower() for email in _emails[2::5]),
        *(email.swapcase() for email in _emails[::7]),
        "nobody@example.com",
    ],
    "phone_number": [profile.phone_number for profile in PROFILES[::5] if profile.phone_number] + ["+19999999999"],
    "external_id": [profile.external_id for profile in PROFILES if profile.external_id] + ["EXT,0)", "missing"],
    "_kx": [profile.kx for profile in PROFILES if profile.kx] + ["KX0", "kx-missing"],
    "subscriptions.email.marketing.suppression.reason": ["HARD_BOUNCE", "USER_SUPPRESSED"],
    "subscriptions.email.marketing.list_suppressions.list_id": ["Y6nRLr"],
    "subscriptions.email.marketing.list_suppressions.reason": ["UNSUBSCRIBE"],
}
TIMES = sorted(
    {profile.created for profile in PROFILES[::3]}
    | {profile.updated for profile in PROFILES[1::4]}
    | {BASE - 1, BASE + 30, BASE + 10**6}
)
FIELDS = [field for field in PROFILE_FIELDS for _ in range(1 if field.startswith("subscriptions.") else 3)]


def datetime_texts(moment: float) -> list[str]:
    """Ways to write one moment that the parser must all read back as exactly that moment."""
    utc = datetime.fromtimestamp(moment, UTC)
    plus = utc.isoformat()
    z = plus.replace("+00:00", "Z")
    east = utc.astimezone(timezone(timedelta(hours=2))).isoformat()
    india = utc.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    west = utc.astimezone(timezone(timedelta(hours=-5))).isoformat()
    naive = utc.replace(tzinfo=None).isoformat()
    return [z, plus, plus.replace("+", " "), east, india.replace("+", " "), west, naive, f'"{z}"', f"'{plus}'"]


def quoted(value: str) -> st.SearchStrategy[str]:
    double = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    single = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    escaped = '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'") + '"'
    return st.sampled_from([double, single, escaped])


SPACE = st.sampled_from(["", "", " "])


@st.composite
def comparisons(draw: st.DrawFn) -> tuple[str, Node]:
    field = draw(st.sampled_from(FIELDS))
    kind, operators = PROFILE_FIELDS[field]
    operator = draw(st.sampled_from(operators))
    value: float | str | tuple[str, ...]
    if kind == "datetime":
        moment = draw(st.sampled_from(TIMES))
        text, value = draw(st.sampled_from(datetime_texts(moment))), moment
    elif operator == "any":
        items = draw(st.lists(st.sampled_from(STRINGS[field]), min_size=1, max_size=3))
        separator = "," + draw(SPACE)
        text, value = "[" + separator.join(draw(quoted(item)) for item in items) + "]", tuple(items)
    else:
        item = draw(st.sampled_from(STRINGS[field]))
        text, value = draw(quoted(item)), item
    return f"{operator}({field},{draw(SPACE)}{text})", Comparison(operator, field, value)


def terms(depth: int) -> st.SearchStrategy[tuple[str, Node]]:
    if depth == 0:
        return comparisons()
    inner = terms(depth - 1)

    @st.composite
    def logical(draw: st.DrawFn) -> tuple[str, Node]:
        name = draw(st.sampled_from(["and", "or", "not"]))
        if name == "not":
            text, node = draw(inner)
            return f"not({text})", Not(node)
        parts = draw(st.lists(inner, min_size=2, max_size=3))
        separator = "," + draw(SPACE)
        nodes = tuple(node for _, node in parts)
        return f"{name}({separator.join(text for text, _ in parts)})", And(nodes) if name == "and" else Or(nodes)

    return st.one_of(comparisons(), logical())


@st.composite
def filters(draw: st.DrawFn) -> tuple[str, Node]:
    """Filter text from the grammar, with the tree it means; nesting depth at most 3."""
    parts = draw(st.lists(terms(3), min_size=1, max_size=3))
    nodes = tuple(node for _, node in parts)
    return ",".join(text for text, _ in parts), nodes[0] if len(nodes) == 1 else And(nodes)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SQLiteStore, str]]:
    path: Path = tmp_path_factory.mktemp("filter") / "localviyo.db"
    sqlite = SQLiteStore(str(path))
    sqlite.migrate()
    counter = iter(range(100))
    account = sqlite.ensure_account("filtered", lambda: f"acct{next(counter)}", BASE)
    other = sqlite.ensure_account("other", lambda: f"acct{next(counter)}", BASE)
    for profile in PROFILES:
        sqlite.create_profile(account.id, profile)
    for profile in OTHER_ACCOUNT_PROFILES:
        sqlite.create_profile(other.id, profile)
    yield sqlite, account.id
    sqlite.close()


@PROPERTIES
@given(generated=filters())
def test_parse_filter_reads_every_generated_filter(generated: tuple[str, Node]) -> None:
    text, expected = generated
    assert parse_filter(text) == expected


@PROPERTIES
@given(generated=filters())
def test_list_profiles_sql_agrees_with_matches(store: tuple[SQLiteStore, str], generated: tuple[str, Node]) -> None:
    sqlite, account_id = store
    text, _ = generated
    node = parse_filter(text)
    found = sqlite.list_profiles(account_id, node, Sort("id"), None, False, 1000)
    expected = sorted(profile.id for profile in PROFILES if matches(node, profile))
    assert [profile.id for profile in found] == expected, text


def test_list_profiles_filters_match_something(store: tuple[SQLiteStore, str]) -> None:
    """The pools are chosen so that generated filters do select profiles: a sanity check of the data."""
    sqlite, account_id = store
    for text, count in [
        ('equals(email,"ALICE@EXAMPLE.COM")', 1),
        ("less-than(created,2026-03-01T12:01:00Z)", 3),
        ("greater-than(created,2026-03-01T12:00:00Z)", 38),  # of the first three, one is at 12:00:00.5
        ('not(equals(subscriptions.email.marketing.suppression.reason,"HARD_BOUNCE"))', 40),
    ]:
        assert len(sqlite.list_profiles(account_id, parse_filter(text), Sort("id"), None, False, 1000)) == count


def _walk_forward(
    service: ProfileService, account_id: str, where: Node | None, sort: Sort, size: int
) -> list[tuple[list[str], Position | None, Position | None]]:
    pages = []
    start: Position | None = None
    while True:
        page = service.get_profiles(account_id, where, sort, size, start=start)
        pages.append(([profile.id for profile in page.profiles], page.next, page.prev))
        assert len(pages) <= len(PROFILES) + 1, "the walk does not end"
        if page.next is None:
            return pages
        start = page.next


@pytest.mark.parametrize("sort", SORTS)
@settings(max_examples=25, deadline=None, derandomize=True)
@given(size=st.integers(min_value=1, max_value=45), generated=st.none() | filters())
def test_get_profiles_pages_visit_each_profile_once_in_order(
    store: tuple[SQLiteStore, str], sort: str, size: int, generated: tuple[str, Node] | None
) -> None:
    sqlite, account_id = store
    service = ProfileService(sqlite, ManualClock(BASE), Ids(ManualClock(BASE)))
    order = Sort.parse(sort)
    where = None if generated is None else parse_filter(generated[0])
    expected = [
        profile.id
        for profile in sorted(PROFILES, key=lambda profile: position(profile, order), reverse=order.descending)
        if where is None or matches(where, profile)
    ]

    forward = _walk_forward(service, account_id, where, order, size)
    assert [profile_id for ids, _, _ in forward for profile_id in ids] == expected
    assert forward[0][2] is None  # the first page has no prev
    assert all(len(ids) == size for ids, _, _ in forward[:-1])
    assert all(prev is not None for _, _, prev in forward[1:])

    # backwards from the last page via prev, to the first page
    pages = [forward[-1][0]]
    prev = forward[-1][2]
    while prev is not None:
        page = service.get_profiles(account_id, where, order, size, start=prev, backwards=True)
        assert page.profiles, "a prev link led to an empty page"
        assert page.next is not None
        # the next link of a page reached backwards leads to the profile right after it
        after = service.get_profiles(account_id, where, order, 1, start=page.next)
        following = pages[0][0]
        assert [profile.id for profile in after.profiles] == [following]
        pages.insert(0, [profile.id for profile in page.profiles])
        prev = page.prev
        assert len(pages) <= len(PROFILES) + 1, "the walk does not end"
    assert [profile_id for ids in pages for profile_id in ids] == expected
