"""Rendering: the encoded-once resource template gives the same bytes as encoding the resource whole."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from localviyo import jsonapi
from localviyo.core.profile import Profile
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
    assert (
        jsonapi.encode_profile_resource(
            profile.id, base_url=base_url, revision=REVISIONS[1], attributes=attributes, relationship_data=True
        )
        == whole
    )
