"""Our route table against Klaviyo's own specs: paths, methods, scopes, rate limits, first revision."""

from __future__ import annotations

import pytest
import spec

from localviyo.api.routes import OPERATIONS, Operation
from localviyo.ratelimit import Limits

SPEC_REVISIONS = ("2023-12-15", "2024-02-15", "2024-05-15", "2026-07-15")


def _limits(operation: spec.Operation) -> Limits:
    return Limits.parse(operation.rate_limit["burst"], operation.rate_limit["steady"])


@pytest.mark.parametrize("revision", SPEC_REVISIONS)
@pytest.mark.parametrize("ours", OPERATIONS, ids=lambda operation: operation.id)
def test_operation_matches_the_spec(ours: Operation, revision: str) -> None:
    if not spec.spec_available(revision):
        pytest.skip(f"Klaviyo's {revision} spec is not in ../shared/klaviyo-openapi/")
    if ours.since > revision:
        assert ours.id not in spec.operation_ids(revision), f"{ours.id} exists in {revision}"
        return
    theirs = spec.operation(revision, ours.id)
    assert theirs.method == ours.method
    expected_path = ours.path + "/" if revision < "2024-10-15" else ours.path
    assert theirs.path == expected_path
    assert tuple(sorted(theirs.scopes)) == tuple(sorted(ours.scopes))
    assert _limits(theirs) == ours.limits_for(revision)
