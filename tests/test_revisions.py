"""The `revision` header: parsing and refusals, and what each revision changes."""

from __future__ import annotations

import pytest

from localviyo.errors import Invalid, NotFound
from localviyo.revisions import (
    DEFAULT,
    FUTURE,
    KNOWN_REVISIONS,
    MALFORMED,
    MISSING,
    TOO_EARLY,
    UNKNOWN,
    Revision,
    parse_revision,
)

TODAY = "2026-11-16"
EARLIEST = KNOWN_REVISIONS[0]


def parse(value: str | None, *, today: str = TODAY, earliest: str = EARLIEST) -> Revision:
    return parse_revision(value, today=today, earliest=earliest)


@pytest.mark.parametrize("value", [None, "", "   ", "\t"], ids=["absent", "empty", "spaces", "tab"])
def test_parse_revision_missing(value: str | None) -> None:
    with pytest.raises(Invalid) as caught:
        parse(value)
    error = caught.value
    assert (error.status, error.code) == (400, "invalid")
    assert (error.detail, error.parameter, error.pointer) == (MISSING, "revision", None)


@pytest.mark.parametrize(
    "value",
    [
        "2024-2-15",
        "20240215",
        "2024/02/15",
        "2024-02-15.",
        "2024-02-15.PRE",
        "2024-02-15.pre1",
        "2024-02-15T00:00",
        "latest",
        "v2024-02-15",
        "2024-02-15 2024-02-15",
    ],
    ids=[
        "short-month",
        "no-dashes",
        "slashes",
        "empty-suffix",
        "upper-suffix",
        "digit-suffix",
        "time",
        "word",
        "prefix",
        "twice",
    ],
)
def test_parse_revision_malformed(value: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse(value)
    error = caught.value
    assert (error.status, error.code) == (400, "invalid")
    assert (error.detail, error.parameter) == (MALFORMED.format(value=value), "revision")


def test_parse_revision_malformed_quotes_the_stripped_value() -> None:
    with pytest.raises(Invalid) as caught:
        parse("  latest ")
    assert caught.value.detail == MALFORMED.format(value="latest")


@pytest.mark.parametrize(
    ("value", "today"),
    [("2026-10-15", "2026-10-14"), ("2099-01-01", TODAY), ("2027-01-01", TODAY), ("2026-10-15.pre", "2026-07-15")],
    ids=["known-but-tomorrow", "far-future-unknown", "next-year", "pre"],
)
def test_parse_revision_future(value: str, today: str) -> None:
    with pytest.raises(NotFound) as caught:
        parse(value, today=today)
    error = caught.value
    assert (error.status, error.code) == (404, "not_found")
    assert (error.detail, error.parameter) == (FUTURE, "revision")


def test_parse_revision_today_is_not_future() -> None:
    assert parse("2026-10-15", today="2026-10-15") == Revision("2026-10-15")


@pytest.mark.parametrize(
    "value",
    ["2024-02-16", "2024-03-15", "2022-10-17", "2024-13-45", "2024-02-16.pre"],
    ids=["day-after", "not-a-release", "before-2023", "impossible-date", "pre"],
)
def test_parse_revision_unknown_date(value: str) -> None:
    with pytest.raises(NotFound) as caught:
        parse(value)
    error = caught.value
    assert (error.status, error.code) == (404, "not_found")
    assert (error.detail, error.parameter) == (UNKNOWN, "revision")


def test_parse_revision_unknown_is_checked_before_too_early() -> None:
    with pytest.raises(NotFound) as caught:
        parse("2022-10-17", earliest="2024-02-15")
    assert caught.value.detail == UNKNOWN


@pytest.mark.parametrize(
    ("value", "earliest"),
    [("2023-01-24", "2024-02-15"), ("2024-02-15", "2024-05-15"), ("2023-12-15.pre", "2024-02-15")],
    ids=["oldest", "one-before", "pre"],
)
def test_parse_revision_too_early_for_the_operation(value: str, earliest: str) -> None:
    with pytest.raises(NotFound) as caught:
        parse(value, earliest=earliest)
    error = caught.value
    assert (error.status, error.code) == (404, "not_found")
    assert error.parameter == "revision"
    assert error.detail == TOO_EARLY.format(value=value, earliest=earliest)
    assert f"before the earliest available, use a date after {earliest}" in error.detail


def test_parse_revision_earliest_itself_is_accepted() -> None:
    assert parse("2024-02-15", earliest="2024-02-15") == Revision("2024-02-15")


@pytest.mark.parametrize("revision", KNOWN_REVISIONS)
def test_parse_revision_every_known_revision_accepted(revision: str) -> None:
    parsed = parse(revision, today=KNOWN_REVISIONS[-1])
    assert parsed == Revision(revision)
    assert parsed.suffix is None
    assert str(parsed) == revision


def test_parse_revision_pre_suffix() -> None:
    parsed = parse("2024-02-15.pre")
    assert parsed == Revision("2024-02-15", "pre")
    assert parsed.date == "2024-02-15"
    assert str(parsed) == "2024-02-15.pre"


def test_parse_revision_surrounding_whitespace_is_ignored() -> None:
    assert parse("  2024-02-15 ") == Revision("2024-02-15")


def test_known_revisions_are_sorted_dates_without_repeats() -> None:
    assert list(KNOWN_REVISIONS) == sorted(set(KNOWN_REVISIONS))
    assert "2024-02-15" in KNOWN_REVISIONS


def test_default_revision_is_2024_02_15() -> None:
    assert Revision("2024-02-15") == DEFAULT
    assert str(DEFAULT) == "2024-02-15"


# --- what changes with the revision --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "expected"),
    [("2023-01-24", True), ("2024-02-15", True), ("2024-07-15", True), ("2024-10-15", False), ("2026-10-15", False)],
)
def test_revision_trailing_slash_until_2024_10_15(date: str, expected: bool) -> None:
    assert Revision(date).trailing_slash is expected


@pytest.mark.parametrize(
    ("date", "expected"),
    [("2024-02-15", False), ("2024-06-15", False), ("2024-07-15", True), ("2026-10-15", True)],
)
def test_revision_has_locale_from_2024_07_15(date: str, expected: bool) -> None:
    assert Revision(date).has_locale is expected


@pytest.mark.parametrize(
    ("date", "expected"),
    [("2024-02-15", True), ("2025-07-15", True), ("2025-10-15", False), ("2026-01-15", False)],
)
def test_revision_has_anonymous_id_until_2025_10_15(date: str, expected: bool) -> None:
    assert Revision(date).has_anonymous_id is expected


@pytest.mark.parametrize(
    ("date", "expected"),
    [("2024-02-15", False), ("2024-07-15", False), ("2024-10-15", True), ("2025-01-15", True)],
)
def test_revision_additional_fields_on_writes_from_2024_10_15(date: str, expected: bool) -> None:
    assert Revision(date).additional_fields_on_writes is expected


@pytest.mark.parametrize(
    ("date", "expected"),
    [("2023-01-24", True), ("2024-02-15", True), ("2024-05-15", True), ("2024-10-15", False), ("2026-07-15", False)],
)
def test_revision_relationship_data_required_by_early_schemas(date: str, expected: bool) -> None:
    assert Revision(date).relationship_data is expected


@pytest.mark.parametrize(
    ("date", "expected"),
    [("2024-02-15", True), ("2026-04-15", True), ("2026-07-15", False), ("2026-10-15", False)],
)
def test_revision_sms_marketing_needs_consent_record_until_2026_07_15(date: str, expected: bool) -> None:
    assert Revision(date).sms_marketing_needs_consent_record is expected


@pytest.mark.parametrize(
    ("date", "expected"),
    [("2024-02-15", False), ("2024-10-15", False), ("2025-01-15", True), ("2026-10-15", True)],
)
def test_revision_push_tokens_relationship_from_2025_01_15(date: str, expected: bool) -> None:
    assert Revision(date).push_tokens_relationship is expected


def test_revision_suffix_does_not_change_features() -> None:
    plain, pre = Revision("2024-07-15"), Revision("2024-07-15", "pre")
    assert (plain.has_locale, plain.trailing_slash) == (pre.has_locale, pre.trailing_slash)
