"""Rendering: the encoded-once resource template gives the same bytes as encoding the resource whole."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from localviyo import jsonapi
from localviyo.core.profile import LOCATION_KEYS, STRING_ATTRIBUTES, Profile
from localviyo.revisions import Revision

REVISIONS = [Revision("2023-12-15"), Revision("2024-02-15"), Revision("2024-10-15"), Revision("2026-07-15")]


@given(
    profile_id=st.text(min_size=1, max_size=40),
    base_url=st.text(max_size=40),
    revision=st.sampled_from(REVISIONS),
    relationship_data=st.booleans(),
    email=st.none() | st.text(max_size=20),
)
def test_encoded_resource_matches_the_whole_encoding(
    profile_id: str, base_url: str, revision: Revision, relationship_data: bool, email: str | None
) -> None:
    profile = Profile(id=profile_id, email=email, properties={"quote": '"', "slash": "\\/", "ulid": profile_id})
    attributes = jsonapi.profile_attributes(profile, revision, ("subscriptions",))
    whole = jsonapi.encode(
        jsonapi.profile_resource(
            profile.id,
            base_url=base_url,
            revision=revision,
            attributes=attributes,
            relationship_data=relationship_data,
        )
    )
    fast = jsonapi.encode_profile_resource(
        profile.id,
        base_url=base_url,
        revision=revision,
        attributes=attributes,
        relationship_data=relationship_data,
    )
    assert fast == whole


def test_a_base_url_holding_the_stand_ins_changes_nothing() -> None:
    base_url = f"http://{jsonapi._ID}.example/{jsonapi._ATTRIBUTES}"
    profile = Profile(id="01HZX", email="a@example.com")
    attributes = jsonapi.profile_attributes(profile, REVISIONS[1])
    whole = jsonapi.encode(
        jsonapi.profile_resource(
            profile.id, base_url=base_url, revision=REVISIONS[1], attributes=attributes, relationship_data=True
        )
    )
    for given_attributes in (attributes, jsonapi.encode_attributes(profile, REVISIONS[1])):
        assert (
            jsonapi.encode_profile_resource(
                profile.id,
                base_url=base_url,
                revision=REVISIONS[1],
                attributes=given_attributes,
                relationship_data=True,
            )
            == whole
        )


_TEXT = st.none() | st.text(max_size=12)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
_LOCATION_KEYS = st.sampled_from(LOCATION_KEYS)
_SECONDS = st.floats(min_value=0, max_value=4e9)


@given(
    revision=st.sampled_from(REVISIONS),
    strings=st.fixed_dictionaries({name: _TEXT for name in STRING_ATTRIBUTES}),
    location=st.dictionaries(
        _LOCATION_KEYS | st.text(max_size=6), st.text(max_size=6) | st.floats(-90, 90), max_size=4
    ),
    properties=st.dictionaries(st.text(max_size=8), _JSON, max_size=4),
    created=_SECONDS,
    updated=_SECONDS,
    last_event_date=st.none() | _SECONDS,
)
def test_attributes_encoded_from_structs_match_the_dictionary(
    revision: Revision,
    strings: dict[str, str | None],
    location: dict[str, Any],
    properties: dict[str, Any],
    created: float,
    updated: float,
    last_event_date: float | None,
) -> None:
    """The fast path of nearly every rendering (no sparse fieldset, no additional fields) gives the bytes of
    the dictionary that sparse fieldsets and additional fields start from, for every revision, whatever the
    location holds (a key outside Klaviyo's included)."""
    profile = Profile(
        id="01HZX",
        **strings,
        location=location,
        properties=properties,
        created=created,
        updated=updated,
        last_event_date=last_event_date,
    )
    expected = jsonapi.encode(jsonapi.profile_attributes(profile, revision))
    assert jsonapi.encode_attributes(profile, revision) == expected
    resource = jsonapi.encode_profile_resource(
        profile.id, base_url="http://x", revision=revision, attributes=expected, relationship_data=False
    )
    assert resource == jsonapi.encode(
        jsonapi.profile_resource(
            profile.id,
            base_url="http://x",
            revision=revision,
            attributes=jsonapi.profile_attributes(profile, revision),
            relationship_data=False,
        )
    )
