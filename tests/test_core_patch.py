"""core.patch.apply_changes: Update Profile's write semantics on a stored profile."""

from __future__ import annotations

import copy
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from localviyo.core.document import Changes, PatchProperties
from localviyo.core.patch import apply_changes
from localviyo.core.profile import STRING_ATTRIBUTES, Profile

PROFILE_ID = "01GDDKASAP8TKDDA2GRZDSVP4H"

# JSON scalars without floats, so that two values are JSON-equal exactly when they serialise alike. Small
# ranges make true/1, false/0 and repeats common.
SCALARS = st.none() | st.booleans() | st.integers(min_value=-2, max_value=2) | st.sampled_from(["", "a", "1", "true"])
KEYS = st.sampled_from(["a", "b", "c", "skus", "$source"])


def sarah(**overrides: Any) -> Profile:
    profile = Profile(
        id=PROFILE_ID,
        email="sarah.mason@klaviyo-demo.com",
        phone_number="+15005550006",
        first_name="Sarah",
        last_name="Mason",
        location={"city": "New York", "zip": "10017", "latitude": "40.7128"},
        properties={"pseudonym": "Dr. Octopus", "skus": ["92538"], "nested": {"a": 1, "b": 2}},
        created=100.0,
        updated=200.0,
    )
    return msgspec.structs.replace(profile, **overrides)


def patched(properties: dict[str, Any], **patch: Any) -> dict[str, Any]:
    """The properties after applying only a patch_properties to a profile holding `properties`."""
    profile = Profile(id=PROFILE_ID, properties=properties)
    return apply_changes(profile, Changes(patch=PatchProperties(**patch))).properties


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


# --- attributes ---------------------------------------------------------------------------------------


def test_apply_sets_clears_and_keeps_attributes() -> None:
    result = apply_changes(sarah(), Changes(attributes={"first_name": None, "title": "Manager", "email": "n@x.io"}))
    assert result.first_name is None
    assert result.title == "Manager"
    assert result.email == "n@x.io"
    assert result.last_name == "Mason"
    assert result.phone_number == "+15005550006"
    assert result.id == PROFILE_ID


def test_apply_empty_changes_is_a_no_op() -> None:
    profile = sarah()
    result = apply_changes(profile, Changes())
    assert result == profile
    assert profile.same_content(result)


def test_apply_does_not_touch_timestamps() -> None:
    result = apply_changes(sarah(), Changes(attributes={"first_name": "S"}, properties={"x": 1}))
    assert (result.created, result.updated, result.last_event_date) == (100.0, 200.0, None)


def test_apply_does_not_mutate_the_given_profile() -> None:
    profile = sarah()
    before = copy.deepcopy(profile)
    apply_changes(
        profile,
        Changes(
            attributes={"first_name": None},
            location={"city": None, "zip": "1"},
            properties={"nested": {"c": 3}},
            patch=PatchProperties(append={"skus": "1"}, unappend={"skus": "92538"}, unset=["pseudonym"]),
        ),
    )
    assert profile == before


# --- location -----------------------------------------------------------------------------------------


def test_apply_location_changes_key_by_key() -> None:
    result = apply_changes(sarah(), Changes(location={"city": "Boston", "zip": None, "region": "MA"}))
    assert result.location == {"city": "Boston", "latitude": "40.7128", "region": "MA"}


def test_apply_location_null_clears_every_key() -> None:
    assert apply_changes(sarah(), Changes(clear_location=True)).location == {}


def test_apply_location_null_then_keys_leaves_only_those_keys() -> None:
    result = apply_changes(sarah(), Changes(clear_location=True, location={"country": "US", "zip": None}))
    assert result.location == {"country": "US"}


# --- properties ---------------------------------------------------------------------------------------


def test_apply_properties_merge_at_top_level() -> None:
    result = apply_changes(sarah(), Changes(properties={"pseudonym": "Spidey", "new": [1], "nested": {"c": 3}}))
    assert result.properties == {"pseudonym": "Spidey", "skus": ["92538"], "new": [1], "nested": {"c": 3}}


def test_apply_properties_null_value_is_stored_not_removed() -> None:
    result = apply_changes(sarah(), Changes(properties={"pseudonym": None}))
    assert "pseudonym" in result.properties
    assert result.properties["pseudonym"] is None


def test_apply_unset_removes_keys_and_ignores_missing_ones() -> None:
    assert patched({"a": 1, "b": 2, "c": 3}, unset=["a", "c", "missing"]) == {"b": 2}


@pytest.mark.parametrize(
    ("existing", "value", "expected"),
    [
        ({}, "92538", ["92538"]),
        ({}, ["92538", "40571"], ["92538", "40571"]),
        ({"k": None}, "v", ["v"]),
        ({"k": "old"}, "new", ["old", "new"]),
        ({"k": 5}, [6, 7], [5, 6, 7]),
        ({"k": ["a"]}, "a", ["a", "a"]),
        ({"k": ["a"]}, ["b", "c"], ["a", "b", "c"]),
        ({"k": ["a"]}, [["b"]], ["a", ["b"]]),
        ({"k": ["a"]}, {"x": 1}, ["a", {"x": 1}]),
        ({"k": ["a"]}, [], ["a"]),
    ],
    ids=[
        "missing-scalar",
        "missing-list",
        "null",
        "scalar-to-scalar",
        "list-to-scalar",
        "duplicate",
        "list-to-list",
        "nested-list",
        "object",
        "empty-list",
    ],
)
def test_apply_append(existing: dict[str, Any], value: Any, expected: list[Any]) -> None:
    assert patched(existing, append={"k": value}) == {"k": expected}


@pytest.mark.parametrize(
    ("existing", "value", "expected"),
    [
        ({"k": ["a", "b", "a"]}, "a", {"k": ["b"]}),
        ({"k": ["a", "b", "c"]}, ["a", "c", "z"], {"k": ["b"]}),
        ({"k": ["a"]}, "a", {"k": []}),
        ({"k": [1, True, "1"]}, True, {"k": [1, "1"]}),
        ({"k": [1, True, "1"]}, 1, {"k": [True, "1"]}),
        ({"k": [0, False, None]}, False, {"k": [0, None]}),
        ({"k": [0, False, None]}, [0], {"k": [False, None]}),
        ({"k": [["a"], "a"]}, [["a"]], {"k": ["a"]}),
        ({}, "a", {}),
        ({"k": "a"}, "a", {"k": "a"}),
        ({"k": 5}, 5, {"k": 5}),
    ],
    ids=[
        "every-match",
        "several",
        "to-empty",
        "true-is-not-1",
        "1-is-not-true",
        "false-is-not-0",
        "0-is-not-false",
        "nested-list",
        "missing-key",
        "scalar-string",
        "scalar-number",
    ],
)
def test_apply_unappend(existing: dict[str, Any], value: Any, expected: dict[str, Any]) -> None:
    assert dumps(patched(existing, unappend={"k": value})) == dumps(expected)


@pytest.mark.parametrize(
    ("existing", "value", "expected"),
    [
        ([[1], [True]], [[True]], [[1]]),
        ([{"a": 1}, {"a": True}], [{"a": True}], [{"a": 1}]),
    ],
    ids=["nested-list", "nested-object"],
)
def test_apply_unappend_json_equality_holds_inside_nested_values(
    existing: list[Any], value: list[Any], expected: list[Any]
) -> None:
    # The module compares "JSON equality: true is not 1"; the same holds for true nested in a value.
    assert dumps(patched({"k": existing}, unappend={"k": value})) == dumps({"k": expected})


def test_apply_order_properties_then_unset_then_append_then_unappend() -> None:
    profile = Profile(id=PROFILE_ID, properties={"list": ["old"], "gone": 1})
    changes = Changes(
        properties={"gone": 2, "set": "x"},
        patch=PatchProperties(
            unset=["list", "gone", "set"],
            append={"list": ["new", "tmp"], "set": "y"},
            unappend={"list": "tmp", "set": "y"},
        ),
    )
    assert apply_changes(profile, changes).properties == {"list": ["new"], "set": []}


def test_apply_unset_plus_append_replaces_a_list_in_one_call() -> None:
    assert patched({"skus": ["1", "2"]}, unset=["skus"], append={"skus": ["3"]}) == {"skus": ["3"]}


# --- properties that must hold for any input ----------------------------------------------------------


@given(start=st.lists(SCALARS, max_size=8), values=st.lists(SCALARS, min_size=1, max_size=4))
def test_apply_append_then_unappend_restores_the_list_without_those_values(start: list[Any], values: list[Any]) -> None:
    appended = patched({"k": start}, append={"k": values})
    assert dumps(appended) == dumps({"k": start + values})
    restored = patched(appended, unappend={"k": values})
    expected = [item for item in start if all(dumps(item) != dumps(value) for value in values)]
    assert dumps(restored) == dumps({"k": expected})
    # Both in one request: append runs before unappend.
    assert dumps(patched({"k": start}, append={"k": values}, unappend={"k": values})) == dumps({"k": expected})


@given(properties=st.dictionaries(KEYS, SCALARS), unset=st.lists(KEYS))
def test_apply_unset_removes_exactly_the_keys(properties: dict[str, Any], unset: list[str]) -> None:
    result = patched(properties, unset=unset)
    assert dumps(result) == dumps({key: value for key, value in properties.items() if key not in unset})


@given(
    before=st.fixed_dictionaries({name: st.none() | st.text(max_size=3) for name in STRING_ATTRIBUTES}),
    changed=st.dictionaries(st.sampled_from(STRING_ATTRIBUTES), st.none() | st.text(max_size=3)),
    properties=st.dictionaries(KEYS, SCALARS),
)
def test_apply_attributes_not_in_changes_are_untouched(
    before: dict[str, str | None], changed: dict[str, str | None], properties: dict[str, Any]
) -> None:
    profile = msgspec.structs.replace(
        Profile(id=PROFILE_ID, kx="kx-1", location={"city": "NYC"}, created=1.0, updated=2.0),
        **before,
        properties=properties,
    )
    result = apply_changes(profile, Changes(attributes=dict(changed)))
    for name in STRING_ATTRIBUTES:
        assert getattr(result, name) == changed.get(name, before[name]), name
    assert (result.id, result.kx, result.location, result.created, result.updated) == (
        PROFILE_ID,
        "kx-1",
        {"city": "NYC"},
        1.0,
        2.0,
    )
    assert dumps(result.properties) == dumps(properties)
