"""Private API keys: shape, hashing, scopes and what a key may do."""

from __future__ import annotations

import hashlib
import re

import pytest

from localviyo.core.keys import FULL_ACCESS, allows, generate_key, hash_key, key_matches, label, parse_scopes

KEY_SHAPE = re.compile(r"pk_[a-z0-9]{34}")
KEY = "pk_" + "abcdefghijklmnopqrstuvwxyz01234567"


def test_generate_key_shape() -> None:
    for _ in range(200):
        key = generate_key()
        assert len(key) == 37
        assert KEY_SHAPE.fullmatch(key), key


def test_generate_key_is_random() -> None:
    keys = {generate_key() for _ in range(200)}
    assert len(keys) == 200
    # Every position draws from the whole alphabet: across 200 keys, more than digits or letters alone.
    assert len(set("".join(key[3:] for key in keys))) == 36


def test_hash_key_is_sha256_hex() -> None:
    assert hash_key(KEY) == hashlib.sha256(KEY.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", hash_key(KEY))
    assert KEY not in hash_key(KEY)


def test_key_matches_its_own_hash_only() -> None:
    stored = hash_key(KEY)
    assert key_matches(KEY, stored)
    assert not key_matches(KEY.upper(), stored)
    assert not key_matches(KEY[:-1] + "8", stored)
    assert not key_matches(KEY + " ", stored)
    assert not key_matches("", stored)
    assert not key_matches(KEY, hash_key(generate_key()))


def test_label_shows_only_the_ends() -> None:
    assert label(KEY) == "pk_abc…4567"
    assert KEY[6:-4] not in label(KEY)


@pytest.mark.parametrize(
    ("text", "scopes"),
    [
        ("profiles:read", ("profiles:read",)),
        ("profiles:read,profiles:write", ("profiles:read", "profiles:write")),
        (" profiles:read , lists:write ,", ("profiles:read", "lists:write")),
        ("*", (FULL_ACCESS,)),
        ("push-tokens:write,*", ("push-tokens:write", FULL_ACCESS)),
    ],
    ids=["one", "two", "spaces-and-trailing-comma", "full", "hyphen-and-full"],
)
def test_parse_scopes(text: str, scopes: tuple[str, ...]) -> None:
    assert parse_scopes(text) == scopes


@pytest.mark.parametrize("text", ["", " ", ",", " , ,"], ids=["empty", "space", "comma", "commas"])
def test_parse_scopes_none_given(text: str) -> None:
    with pytest.raises(ValueError, match=r"^no scopes given$"):
        parse_scopes(text)


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("profiles", "profiles"),
        ("profiles:delete", "profiles:delete"),
        ("Profiles:read", "Profiles:read"),
        ("profiles:READ", "profiles:READ"),
        (":read", ":read"),
        ("-profiles:read", "-profiles:read"),
        ("profiles_x:read", "profiles_x:read"),
        ("profiles:read:write", "profiles:read:write"),
        ("**", "**"),
        ("profiles:read,bad,worse:x", "bad"),
    ],
    ids=[
        "no-access",
        "delete",
        "upper-resource",
        "upper-access",
        "no-resource",
        "hyphen-first",
        "underscore",
        "two-accesses",
        "double-star",
        "first-bad-named",
    ],
)
def test_parse_scopes_names_the_first_bad_scope(text: str, bad: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"invalid scope {bad!r}")):
        parse_scopes(text)


@pytest.mark.parametrize(
    ("granted", "required", "expected"),
    [
        (("profiles:read",), ("profiles:read",), True),
        (("profiles:write",), ("profiles:write",), True),
        (("profiles:write",), ("profiles:read",), True),
        (("profiles:read",), ("profiles:write",), False),
        (("lists:write",), ("profiles:read",), False),
        (("lists:read",), ("profiles:write",), False),
        ((), ("profiles:read",), False),
        (("profiles:read",), (), True),
        (("profiles:write",), ("profiles:read", "lists:read"), False),
        (("profiles:write", "lists:read"), ("profiles:read", "lists:read"), True),
        (("profiles:write", "lists:read"), ("profiles:write", "lists:write"), False),
        ((FULL_ACCESS,), ("profiles:write", "lists:write"), True),
        (("lists:read", FULL_ACCESS), ("profiles:write",), True),
        (("profiles-x:write",), ("profiles:read",), False),
    ],
    ids=[
        "read-read",
        "write-write",
        "write-implies-read",
        "read-not-write",
        "other-resource-write",
        "other-resource-read",
        "nothing-granted",
        "nothing-required",
        "one-of-two-missing",
        "both-held",
        "write-needs-both-writes",
        "full-access",
        "full-access-among-others",
        "similar-resource-name",
    ],
)
def test_allows(granted: tuple[str, ...], required: tuple[str, ...], expected: bool) -> None:
    assert allows(granted, required) is expected
