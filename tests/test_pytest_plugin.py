"""The pytest plugin as a user meets it: test files run by pytester, the plugin found by its entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = """
from pathlib import Path

import pytest
"""


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_user=source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_plugin_fixture_serves_the_api(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        def test_create_and_get(localviyo):
            created = localviyo.request(
                "POST", "/api/profiles/", {"data": {"type": "profile", "attributes": {"email": "a@example.com"}}}
            )
            assert created.status == 201
            got = localviyo.request("GET", f"/api/profiles/{created.data['id']}/")
            assert got.data["attributes"]["email"] == "a@example.com"
            assert localviyo.url.startswith("http://127.0.0.1:")
            assert localviyo.api_key.startswith("pk_")
        """,
    )
    result.assert_outcomes(passed=1)


def test_plugin_resets_between_tests(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        BODY = {"data": {"type": "profile", "attributes": {"email": "same@example.com"}}}

        def test_first(localviyo):
            assert localviyo.request("POST", "/api/profiles/", BODY).status == 201

        def test_second_sees_an_empty_store_and_journal(localviyo):
            assert len(localviyo.requests) == 0
            assert localviyo.request("POST", "/api/profiles/", BODY).status == 201
            assert localviyo.request("GET", "/api/profiles/").data and len(localviyo.export()) == 1
        """,
    )
    result.assert_outcomes(passed=2)


def test_plugin_journal_finds_what_the_code_sent(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        def test_journal(localviyo):
            [pid] = localviyo.seed([{"email": "j@example.com"}])
            body = {"data": {"type": "profile", "id": pid, "attributes": {"first_name": "J"}}}
            assert localviyo.request("PATCH", f"/api/profiles/{pid}/", body).status == 200
            [entry] = localviyo.requests.find(method="PATCH", path=f"/api/profiles/{pid}")
            assert entry.operation == "update_profile"
            assert entry.body["data"]["attributes"] == {"first_name": "J"}
            assert entry.status == 200
            assert entry.response["data"]["attributes"]["first_name"] == "J"
            assert localviyo.api_key not in entry.headers["authorization"]
            assert entry.headers["authorization"].startswith("Klaviyo-API-Key pk_")
            localviyo.requests.clear()
            assert len(localviyo.requests) == 0
        """,
    )
    result.assert_outcomes(passed=1)


def test_plugin_faults_and_clock(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        def test_faults(localviyo):
            localviyo.faults.add(503, times=2, operation="get_profiles")
            assert localviyo.request("GET", "/api/profiles/").status == 503
            assert localviyo.request("GET", "/api/profiles/").status == 503
            assert localviyo.request("GET", "/api/profiles/").status == 200
            localviyo.faults.add(429, retry_after=7, path="/api/profiles/*")
            throttled = localviyo.request("GET", "/api/profiles/")
            assert throttled.status == 429
            assert throttled.headers["Retry-After"] == "7"
            assert throttled.errors[0]["code"] == "throttled"

        def test_clock(localviyo):
            localviyo.clock.freeze("2025-01-02T03:04:05Z")
            [pid] = localviyo.seed([{"email": "c@example.com"}])
            created = localviyo.request("GET", f"/api/profiles/{pid}/").data["attributes"]["created"]
            assert created == "2025-01-02T03:04:05+00:00"
            localviyo.clock.advance(3600)
            assert localviyo.clock.now().isoformat() == "2025-01-02T04:04:05+00:00"
        """,
    )
    result.assert_outcomes(passed=2)


def test_plugin_marker_options(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest

        @pytest.mark.localviyo(rate_limits=False)
        def test_no_limits(localviyo):
            statuses = {localviyo.request("GET", "/api/profiles/").status for _ in range(120)}
            assert statuses == {200}
            assert "RateLimit-Limit" not in localviyo.request("GET", "/api/profiles/").headers

        def test_limits_are_back(localviyo):
            assert localviyo.request("GET", "/api/profiles/").headers["RateLimit-Limit"] == "700"

        @pytest.mark.localviyo(revision="2026-10-15", seed=[{"email": "seeded@example.com", "locale": "fr-FR"}])
        def test_revision_and_seed(localviyo):
            [profile] = localviyo.request("GET", "/api/profiles").data
            assert profile["attributes"]["locale"] == "fr-FR"
            assert profile["links"]["self"].endswith(profile["id"])

        @pytest.mark.localviyo(bogus=1)
        def test_unknown_option(localviyo):
            pass
        """,
    )
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*unknown option(s) bogus*"])


def test_plugin_client_is_the_official_sdk(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import time

        def test_sdk(localviyo):
            created = localviyo.client.Profiles.create_profile(
                {"data": {"type": "profile", "attributes": {"email": "sdk@example.com"}}}
            )
            assert created.data.attributes.email == "sdk@example.com"

        def test_sdk_honours_retry_after_on_a_429_fault(localviyo):
            localviyo.faults.add(429, retry_after=1, operation="get_profiles")
            started = time.monotonic()
            localviyo.client.Profiles.get_profiles()
            assert time.monotonic() - started >= 1.0
            assert [entry.status for entry in localviyo.requests.find(operation="get_profiles")] == [429, 200]
        """,
    )
    result.assert_outcomes(passed=2)


def test_plugin_works_with_xdist(pytester: pytest.Pytester) -> None:
    tests = "\n".join(
        f"""
def test_{n}(localviyo):
    body = {{"data": {{"type": "profile", "attributes": {{"email": "x@example.com"}}}}}}
    assert localviyo.request("POST", "/api/profiles/", body).status == 201
    assert len(localviyo.export()) == 1
"""
        for n in range(6)
    )
    result = run(pytester, tests, "-n", "2")
    result.assert_outcomes(passed=6)


def test_readme_example_runs(pytester: pytest.Pytester) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Use it in your tests", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    result = run(pytester, example)
    result.assert_outcomes(passed=3)
