"""Get Profiles through Klaviyo's SDKs, 7.0.0 (revision 2024-02-15) and 25.0.0 (2026-10-15).

25.0.0 parses a collection into its typed models, so a document that does not fit them fails here. Both
SDKs let a user pass a whole `links.next` as `page_cursor=`: over https they cut out the cursor and keep a
leading "=", over http (a local server) they send the whole link; both must work.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import SDK_OPTIONS as OPTIONS
from conftest import START
from sdk.harness import SDKClient, SDKError, SDKRunner

from localviyo import ManualClock, Settings, accounts, create_app
from localviyo.storage import open_store
from localviyo.testing import ServerThread

HTTPS_BASE = "https://a.klaviyo.test"


@pytest.fixture(scope="module")
def https_links(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A server of its own whose links say https://, as Klaviyo's do: (url to connect to, key)."""
    path = tmp_path_factory.mktemp("https-links") / "localviyo.db"
    clock = ManualClock(START)
    store = open_store(f"sqlite:///{path}")
    app = create_app(Settings(base_url=HTTPS_BASE), store=store, clock=clock)
    key = accounts.create_key(store, clock, account="https", scopes=("*",))
    with ServerThread(app) as server:
        yield server.url, key
    store.close()


def create(sdk: SDKClient, **attributes: Any) -> dict[str, Any]:
    result: dict[str, Any] = sdk.call(
        "Profiles", "create_profile", {"data": {"type": "profile", "attributes": attributes}}
    )
    data: dict[str, Any] = result["data"]
    return data


def listing(sdk: SDKClient, **kwargs: Any) -> dict[str, Any]:
    result: dict[str, Any] = sdk.call("Profiles", "get_profiles", **kwargs)
    return result


def ids(document: dict[str, Any]) -> list[str]:
    return [item["id"] for item in document["data"]]


def walk(sdk: SDKClient, **kwargs: Any) -> tuple[list[str], list[str]]:
    """Every page, passing each links.next as page_cursor: (ids in order, the links.next that were used)."""
    document = listing(sdk, **kwargs)
    found, used = ids(document), []
    while (link := document["links"].get("next")) is not None:
        used.append(link)
        document = listing(sdk, **kwargs, page_cursor=link)
        found.extend(ids(document))
        assert len(used) < 50
    return found, used


def typed(runner: SDKRunner) -> None:
    """25.0.0 read the last answer into its typed collection model (7.0.0 always hands back a dict)."""
    if runner.version == "25.0.0":
        assert runner.last_model is not None
        assert "Collection" in runner.last_model, runner.last_model
    else:
        assert runner.last_model is None


def test_get_profiles_through_sdk_empty_account(sdk: SDKClient, runner: SDKRunner) -> None:
    document = listing(sdk)
    typed(runner)
    assert document["data"] == []
    assert document["links"].get("next") is None
    assert document["links"].get("prev") is None
    assert document["links"]["self"].startswith(sdk.host + "/api/profiles")


def test_get_profiles_through_sdk_filter_sort_page_size(sdk: SDKClient, runner: SDKRunner) -> None:
    made = {email: create(sdk, email=email)["id"] for email in ["b@x.com", "A@x.com", "c@x.com", "d@x.com"]}
    document = listing(sdk, filter='any(email,["a@x.com","B@X.COM","c@x.com"])', sort="-email", page_size=2)
    typed(runner)
    assert ids(document) == [made["c@x.com"], made["b@x.com"]]
    assert document["links"].get("prev") is None
    assert document["links"]["next"] is not None
    rest = listing(sdk, filter='any(email,["a@x.com","B@X.COM","c@x.com"])', sort="-email", page_size=2,
                   page_cursor=document["links"]["next"])  # fmt: skip
    typed(runner)
    assert ids(rest) == [made["A@x.com"]]
    assert rest["links"].get("next") is None
    assert rest["links"]["prev"] is not None
    attributes = listing(sdk, filter=f'equals(id,"{made["d@x.com"]}")')["data"][0]["attributes"]
    assert attributes["email"] == "d@x.com"


def test_get_profiles_through_sdk_fields_and_additional_fields(sdk: SDKClient, runner: SDKRunner) -> None:
    create(sdk, email="fields@x.com", first_name="F", last_name="L", location={"city": "Boston"})
    sparse = listing(sdk, fields_profile=["email", "first_name", "location.city"])
    assert sparse["data"][0]["attributes"] == {
        "email": "fields@x.com",
        "first_name": "F",
        "location": {"city": "Boston"},
    }
    extra = listing(sdk, additional_fields_profile=["subscriptions", "predictive_analytics"])
    typed(runner)
    attributes = extra["data"][0]["attributes"]
    assert attributes["subscriptions"]["email"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"
    assert attributes["subscriptions"]["email"]["marketing"]["can_receive_email_marketing"] is True
    assert "predictive_analytics" in attributes
    assert "subscriptions" not in listing(sdk)["data"][0]["attributes"]


def test_get_profiles_through_sdk_next_link_as_page_cursor_over_http(sdk: SDKClient, runner: SDKRunner) -> None:
    made = [create(sdk, email=f"http{i}@x.com")["id"] for i in range(5)]
    found, used = walk(sdk, page_size=2)
    typed(runner)
    assert found == sorted(made)
    assert len(used) == 2
    assert all(link.startswith("http://") for link in used)  # sent whole: the SDK extracts nothing from it
    found, _ = walk(sdk, page_size=2, sort="-created", fields_profile=["email"])
    assert found == sorted(made, reverse=True)


def test_get_profiles_through_sdk_next_link_as_page_cursor_over_https(
    runner: SDKRunner, https_links: tuple[str, str]
) -> None:
    url, key = https_links
    sdk = runner.client(key, url, OPTIONS)
    made = [create(sdk, email=f"https{runner.version}-{i}@x.com")["id"] for i in range(5)]
    filter_ = f"any(email,[{','.join(repr(f'https{runner.version}-{i}@x.com') for i in range(5))}])"
    found, used = walk(sdk, page_size=2, filter=filter_)
    typed(runner)
    assert found == sorted(made)
    assert len(used) == 2
    assert all(link.startswith(HTTPS_BASE + "/api/profiles") for link in used)  # the SDK cuts the cursor out


def test_get_profiles_through_sdk_prev_link_as_page_cursor(sdk: SDKClient) -> None:
    made = sorted(create(sdk, email=f"prev{i}@x.com")["id"] for i in range(3))
    first = listing(sdk, page_size=2)
    second = listing(sdk, page_size=2, page_cursor=first["links"]["next"])
    assert ids(second) == made[2:]
    back = listing(sdk, page_size=2, page_cursor=second["links"]["prev"])
    assert ids(back) == made[:2]


def test_get_profiles_through_sdk_bad_filter_400(sdk: SDKClient) -> None:
    with pytest.raises(SDKError) as raised:
        listing(sdk, filter='equals(first_name,"Sarah")')
    assert raised.value.status == 400
    error = raised.value.json()["errors"][0]
    assert error["code"] == "invalid"
    assert error["source"] == {"parameter": "filter"}
    assert "(at position 7)" in error["detail"]
    with pytest.raises(SDKError) as sorted_badly:
        listing(sdk, sort="first_name")
    assert sorted_badly.value.json()["errors"][0]["source"] == {"parameter": "sort"}
