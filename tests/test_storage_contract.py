"""The storage contract: what every `Store` backend must do, tested through the protocol only (never SQL).

Each test runs once per entry of BACKENDS. A new backend (PostgreSQL) joins by appending one entry to
BACKENDS and one branch to the `backend` fixture; nothing else here may need to change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
from backends import postgres_schema

from localviyo.core.filter import matches, parse_datetime, parse_filter
from localviyo.core.listing import SORTS, Position, Sort, after, position
from localviyo.core.profile import IDENTIFIERS, Profile
from localviyo.errors import DuplicateProfile, NotFound
from localviyo.storage import Account, KeyRecord, Store, open_store

# Used by the PostgreSQL entry once it exists (see the `backend` fixture).

BACKENDS = [
    pytest.param("sqlite-file", id="sqlite"),
    pytest.param("sqlite-memory", id="sqlite-memory"),
    pytest.param("postgres", id="postgres"),
]


@dataclass
class Backend:
    """Where one test's stores live. `open` gives a new store object on `url`. When `shared`, every store
    opened sees the same data, as two server processes would; otherwise each is a database of its own."""

    name: str
    url: str
    shared: bool
    stores: list[Store] = field(default_factory=list)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def open(self, *, external_id_unique: bool = True, migrate: bool = True) -> Store:
        store = open_store(self.url, external_id_unique=external_id_unique)
        self.stores.append(store)
        if migrate:
            store.migrate()
        return store


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    name: str = request.param
    if name == "sqlite-file":
        setup = Backend(name, f"sqlite:///{tmp_path / 'localviyo.db'}", shared=True)
    elif name == "sqlite-memory":
        setup = Backend(name, "sqlite://:memory:", shared=False)
    elif name == "postgres":
        schema = ExitStack()  # every test gets a fresh schema, dropped afterwards
        setup = Backend(name, schema.enter_context(postgres_schema()), shared=True)
        setup.cleanups.append(schema.close)
    else:
        raise AssertionError(f"no setup for backend {name!r}")
    yield setup
    for store in setup.stores:
        store.close()
    for cleanup in reversed(setup.cleanups):
        cleanup()


@pytest.fixture
def store(backend: Backend) -> Store:
    """A migrated store with nothing in it."""
    return backend.open()


# Helpers

NOW = 1_763_294_400.123456
VALUES = {  # one value per identifier
    "email": "Holder@Example.com",
    "phone_number": "+15005550006",
    "external_id": "ext-1",
    "anonymous_id": "anon-1",
    "kx": "kx-1",
}


class Boom(Exception):
    pass


def account(store: Store, name: str) -> str:
    return store.ensure_account(name, lambda: f"acct-{name}", NOW).id


def person(profile_id: str, **attributes: Any) -> Profile:
    attributes.setdefault("created", NOW)
    attributes.setdefault("updated", NOW)
    return Profile(id=profile_id, **attributes)


def replace(profile: Profile, **changes: Any) -> Profile:
    return msgspec.structs.replace(profile, **changes)


def setting(**changes: Any) -> Callable[[Profile], Profile]:
    """A change that sets these fields."""
    return lambda old: replace(old, **changes)


def key(account_id: str, n: int, *, created: float = NOW, revoked: float | None = None) -> KeyRecord:
    return KeyRecord(f"{n:064x}", account_id, f"pk_{n}…{n}", ("profiles:read", "profiles:write"), created, revoked)


def at(text: str) -> float:
    moment = parse_datetime(text)
    assert moment is not None
    return moment


def everything(store: Store, account_id: str) -> list[Profile]:
    return store.list_profiles(account_id, None, Sort("id"), None, False, 1000)


def ids(profiles: list[Profile]) -> list[str]:
    return [profile.id for profile in profiles]


def typed(value: Any) -> Any:
    """`value` with every scalar's type made part of it, so 1, 1.0 and True differ (dict order does not)."""
    if isinstance(value, dict):
        return {name: typed(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [typed(item) for item in value]
    return (type(value).__name__, repr(value))


def assert_exact(got: Profile | None, want: Profile) -> None:
    assert got is not None
    assert typed(msgspec.to_builtins(got)) == typed(msgspec.to_builtins(want))


def duplicate_of(caught: pytest.ExceptionInfo[DuplicateProfile]) -> str:
    return caught.value.duplicate_profile_id


# Migrations


def test_migrate_applies_every_migration_once(backend: Backend) -> None:
    store = backend.open(migrate=False)
    applied = store.migrate()
    assert applied
    assert len(set(applied)) == len(applied)
    assert store.migrate() == []
    if backend.shared:
        assert backend.open(migrate=False).migrate() == []


def test_migrate_again_keeps_the_data(store: Store) -> None:
    a = account(store, "a")
    store.create_profile(a, person("p1", email="p@x.com"))
    assert store.migrate() == []
    assert ids(everything(store, a)) == ["p1"]


# Accounts


def test_ensure_account_creates_then_returns_the_same_account(store: Store) -> None:
    first = store.ensure_account("acme", lambda: "A1", 10.5)
    assert first == Account("A1", "acme", 10.5)
    assert store.ensure_account("acme", lambda: "A2", 20.0) == first
    assert store.account_by_name("acme") == first
    assert store.list_accounts() == [first]


def test_account_by_name_unknown_is_none(store: Store) -> None:
    store.ensure_account("acme", lambda: "A1", 10.0)
    assert store.account_by_name("other") is None
    assert store.account_by_name("ACME") is None


def test_list_accounts_lists_every_account(store: Store) -> None:
    assert store.list_accounts() == []
    b = store.ensure_account("b", lambda: "B1", 20.0)
    a = store.ensure_account("a", lambda: "A1", 10.0)
    c = store.ensure_account("c", lambda: "C1", 30.0)
    assert sorted(store.list_accounts(), key=lambda found: found.id) == [a, b, c]


# Keys


def test_add_key_round_trips(store: Store) -> None:
    a = account(store, "a")
    live = key(a, 1, created=NOW)
    revoked = KeyRecord(f"{2:064x}", a, "pk_2…2", ("profiles:read",), NOW + 1, NOW + 2.000001)
    store.add_key(live)
    store.add_key(revoked)
    assert store.key_by_hash(live.hash) == live
    assert store.key_by_hash(revoked.hash) == revoked


def test_key_by_hash_unknown_is_none(store: Store) -> None:
    store.add_key(key(account(store, "a"), 1))
    assert store.key_by_hash(f"{2:064x}") is None


def test_list_keys_in_order_of_creation(store: Store) -> None:
    a, b = account(store, "a"), account(store, "b")
    assert store.list_keys() == []
    keys = [key(a, 1, created=30.0), key(b, 2, created=10.0), key(a, 3, created=20.0)]
    for record in keys:
        store.add_key(record)
    assert store.list_keys() == sorted(keys, key=lambda record: record.created)


def test_revoke_key_true_once_then_false(store: Store) -> None:
    a = account(store, "a")
    record, other = key(a, 1), key(a, 2)
    store.add_key(record)
    store.add_key(other)
    assert store.revoke_key(record.hash, NOW + 5) is True
    assert store.key_by_hash(record.hash) == replace_key(record, revoked=NOW + 5)
    assert store.revoke_key(record.hash, NOW + 9) is False
    assert store.key_by_hash(record.hash) == replace_key(record, revoked=NOW + 5)
    assert store.key_by_hash(other.hash) == other
    assert store.revoke_key(f"{3:064x}", NOW) is False


def replace_key(record: KeyRecord, *, revoked: float) -> KeyRecord:
    return KeyRecord(record.hash, record.account_id, record.label, record.scopes, record.created, revoked)


def test_add_first_key_only_when_no_key_exists(store: Store) -> None:
    a = account(store, "a")
    first, second = key(a, 1), key(a, 2)
    assert store.add_first_key(first) is True
    assert store.add_first_key(second) is False
    assert store.list_keys() == [first]
    assert store.key_by_hash(second.hash) is None


def test_add_first_key_refused_after_add_key_even_when_revoked(store: Store) -> None:
    a = account(store, "a")
    store.add_key(key(a, 1))
    store.revoke_key(key(a, 1).hash, NOW)
    assert store.add_first_key(key(a, 2)) is False
    assert [record.hash for record in store.list_keys()] == [key(a, 1).hash]


# Profiles: create and get

FULL = Profile(
    id="01KFULL0000000000000000000",
    email="Zoë.Ünïcode+tag@Example.COM",
    phone_number="+15005550006",
    external_id='ext/ 1 "quoted"',
    anonymous_id="anon-🎉",
    kx="kx-Abc123",
    first_name="Zoë",
    last_name="O'Brien \\ back",
    organization="株式会社 Example",
    locale="fr-CA",
    title="Dr. — 🎉",
    image="https://example.com/a.png?x=1&y=2",
    location={
        "address1": "1 Rue Sainte-Catherine",
        "address2": None,
        "city": "Montréal",
        "country": "Canada",
        "latitude": "45.5017",
        "longitude": -73.5673,
        "region": "QC",
        "zip": "H2X 1Y4",
        "timezone": "America/Toronto",
        "ip": "203.0.113.7",
    },
    properties={
        "text": 'line\nbreak\ttab "quotes" back\\slash',
        "empty": "",
        "unicode": "日本語 \u2013 ünïcödé \u2013 🎉 \u2028",
        "clé 🔑": "unicode key",
        "dotted.key": 1,
        "int": 42,
        "negative": -7,
        "beyond double": 2**53 + 1,
        "min int64": -(2**63),
        "float": 0.1,
        "whole float": 3.0,
        "tiny": 5e-324,
        "huge": 1.5e300,
        "negative float": -2.5e-8,
        "true": True,
        "false": False,
        "null": None,
        "list": [1, "two", 3.5, None, True, [], {}, [1.0, [2]]],
        "empty list": [],
        "empty object": {},
        "nested": {"a": {"b": {"c": [1, {"d": "é", "e": None, "f": 0.5}]}}},
    },
    created=1_763_294_400.123456,
    updated=1_763_294_401.000001,
    last_event_date=1_763_294_399.999999,
)
NUMERIC_LOCATION = Profile(
    id="01KNUMERIC0000000000000000",
    email="numbers@example.com",
    location={"latitude": 45.5017, "longitude": -73, "zip": "02134"},
    properties={"n": 0},
    created=0.000001,
    updated=1e-6,
)
BARE = Profile(id="01KBARE00000000000000000000", kx="only-kx")


def test_create_profile_then_get_profile_round_trips_every_field(store: Store) -> None:
    a = account(store, "a")
    for profile in (FULL, NUMERIC_LOCATION, BARE):
        assert_exact(store.create_profile(a, profile), profile)
        assert_exact(store.get_profile(a, profile.id), profile)
    listed = {found.id: found for found in everything(store, a)}
    for profile in (FULL, NUMERIC_LOCATION, BARE):
        assert_exact(listed[profile.id], profile)


def test_update_profile_round_trips_every_field(store: Store) -> None:
    a = account(store, "a")
    store.create_profile(a, replace(BARE, id=FULL.id))
    assert_exact(store.update_profile(a, FULL.id, lambda old: FULL), FULL)
    assert_exact(store.get_profile(a, FULL.id), FULL)


def test_get_profile_unknown_id_is_none(store: Store) -> None:
    a = account(store, "a")
    store.create_profile(a, person("p1", email="p@x.com"))
    assert store.get_profile(a, "p2") is None
    assert store.get_profile(a, "P1") is None


def test_get_profile_of_another_account_is_none(store: Store) -> None:
    a, b = account(store, "a"), account(store, "b")
    store.create_profile(a, person("p1", email="p@x.com"))
    assert store.get_profile(b, "p1") is None
    assert store.get_profile("no-such-account", "p1") is None


def test_create_profile_taken_identifier_raises_duplicate_naming_the_holder(store: Store) -> None:
    a = account(store, "a")
    for name in IDENTIFIERS:
        holder = store.create_profile(a, person(f"holder-{name}", **{name: VALUES[name]}))
        with pytest.raises(DuplicateProfile) as caught:
            store.create_profile(a, person(f"new-{name}", first_name="New", **{name: VALUES[name]}))
        assert duplicate_of(caught) == holder.id
        assert store.get_profile(a, f"new-{name}") is None
    assert len(everything(store, a)) == len(IDENTIFIERS)


def test_create_profile_email_is_case_insensitive(store: Store) -> None:
    a = account(store, "a")
    store.create_profile(a, person("p1", email="Ann@Example.com"))
    with pytest.raises(DuplicateProfile) as caught:
        store.create_profile(a, person("p2", email="aNN@eXAMPLE.COM"))
    assert duplicate_of(caught) == "p1"
    assert ids(everything(store, a)) == ["p1"]
    assert store.get_profile(a, "p1") == person("p1", email="Ann@Example.com")  # stored as given


def test_create_profile_other_identifiers_are_case_sensitive(store: Store) -> None:
    a = account(store, "a")
    store.create_profile(a, person("p1", external_id="Ext", anonymous_id="Anon", kx="Kx"))
    store.create_profile(a, person("p2", external_id="ext", anonymous_id="anon", kx="kx"))
    assert ids(everything(store, a)) == ["p1", "p2"]


def test_create_profile_several_collisions_name_the_holder_by_priority(store: Store) -> None:
    a = account(store, "a")
    # Holder ids run against priority, so the lowest id or the order of creation cannot pass for it.
    holders = {name: f"h{len(IDENTIFIERS) - i}" for i, name in enumerate(IDENTIFIERS)}
    for name in reversed(IDENTIFIERS):
        store.create_profile(a, person(holders[name], **{name: VALUES[name]}))
    for i, name in enumerate(IDENTIFIERS):
        colliding = {later: VALUES[later] for later in IDENTIFIERS[i:]}
        if "email" in colliding:
            colliding["email"] = colliding["email"].upper()
        with pytest.raises(DuplicateProfile) as caught:
            store.create_profile(a, person("newcomer", **colliding))
        assert duplicate_of(caught) == holders[name], colliding
    assert store.get_profile(a, "newcomer") is None


def test_create_profile_same_identifiers_in_another_account(store: Store) -> None:
    a, b = account(store, "a"), account(store, "b")
    store.create_profile(a, person("p1", **VALUES))
    created = store.create_profile(b, person("p2", **VALUES))
    assert store.get_profile(b, "p2") == created
    assert ids(everything(store, a)) == ["p1"]
    assert ids(everything(store, b)) == ["p2"]


def test_create_profile_duplicate_external_ids_when_not_unique(backend: Backend) -> None:
    store = backend.open(external_id_unique=False)
    a = account(store, "a")
    store.create_profile(a, person("p1", external_id="same"))
    store.create_profile(a, person("p2", external_id="same", email="two@x.com"))
    store.create_profile(a, person("p3", email="three@x.com"))
    store.update_profile(a, "p3", lambda old: replace(old, external_id="same"))
    assert [profile.external_id for profile in everything(store, a)] == ["same"] * 3
    listed = store.list_profiles(a, parse_filter('equals(external_id,"same")'), Sort("id"), None, False, 10)
    assert ids(listed) == ["p1", "p2", "p3"]
    with pytest.raises(DuplicateProfile) as caught:  # the other identifiers stay unique
        store.create_profile(a, person("p4", external_id="same", email="THREE@x.com"))
    assert duplicate_of(caught) == "p3"


# Profiles: update


def test_update_profile_applies_the_change(store: Store) -> None:
    a = account(store, "a")
    original = store.create_profile(a, person("p1", email="p@x.com", properties={"a": 1}))
    seen: list[Profile] = []

    def change(old: Profile) -> Profile:
        seen.append(old)
        return replace(old, first_name="New", email=None, phone_number="+15005550006", properties={"b": [2]})

    expected = replace(original, first_name="New", email=None, phone_number="+15005550006", properties={"b": [2]})
    assert store.update_profile(a, "p1", change) == expected
    assert seen == [original]
    assert_exact(store.get_profile(a, "p1"), expected)


def test_update_profile_unknown_id_raises_not_found(store: Store) -> None:
    a, b = account(store, "a"), account(store, "b")
    store.create_profile(a, person("p1", email="p@x.com"))
    called: list[Profile] = []

    def change(old: Profile) -> Profile:
        called.append(old)
        return old

    with pytest.raises(NotFound):
        store.update_profile(a, "missing", change)
    with pytest.raises(NotFound):
        store.update_profile(b, "p1", change)  # another account's profile
    assert called == []
    assert store.get_profile(b, "p1") is None


def test_update_profile_change_raising_leaves_the_profile_untouched(store: Store) -> None:
    a = account(store, "a")
    original = store.create_profile(a, person("p1", email="p@x.com", properties={"list": [1]}))

    def change(old: Profile) -> Profile:
        old.properties["list"].append(2)  # even a change that mutates what it was given, then fails
        old.first_name = "Mutated"
        raise Boom

    with pytest.raises(Boom):
        store.update_profile(a, "p1", change)
    assert_exact(store.get_profile(a, "p1"), original)


def test_update_profile_taking_another_profiles_identifier_raises_duplicate(store: Store) -> None:
    a = account(store, "a")
    target = store.create_profile(a, person("target", email="target@x.com", properties={"v": 1}))
    for name in IDENTIFIERS:
        holder = store.create_profile(a, person(f"holder-{name}", **{name: VALUES[name]}))
        taken = VALUES[name].lower() if name == "email" else VALUES[name]
        with pytest.raises(DuplicateProfile) as caught:
            store.update_profile(a, "target", setting(first_name="X", **{name: taken}))
        assert duplicate_of(caught) == holder.id
        assert_exact(store.get_profile(a, "target"), target)
        assert_exact(store.get_profile(a, holder.id), holder)


def test_update_profile_returning_the_same_profile_writes_nothing(store: Store) -> None:
    a = account(store, "a")
    original = store.create_profile(a, person("p1", email="p@x.com", properties={"x": [1.5]}))
    assert_exact(store.update_profile(a, "p1", lambda old: old), original)
    assert_exact(store.get_profile(a, "p1"), original)


def test_update_profile_can_take_an_identifier_another_profile_freed(store: Store) -> None:
    a = account(store, "a")
    store.create_profile(a, person("p1", email="free@x.com", phone_number="+15005550006"))
    store.create_profile(a, person("p2", kx="kx-2"))
    store.update_profile(a, "p1", lambda old: replace(old, email=None, phone_number=None, kx="kx-1"))
    moved = store.update_profile(a, "p2", lambda old: replace(old, email="FREE@x.com"))
    assert store.get_profile(a, "p2") == moved
    store.create_profile(a, person("p3", phone_number="+15005550006"))
    with pytest.raises(DuplicateProfile) as caught:
        store.create_profile(a, person("p4", email="free@x.com"))
    assert duplicate_of(caught) == "p2"


def test_update_profile_may_keep_or_recase_its_own_identifiers(store: Store) -> None:
    a = account(store, "a")
    store.create_profile(a, person("p1", **VALUES))
    recased = store.update_profile(a, "p1", lambda old: replace(old, email="holder@example.com", first_name="A"))
    assert store.get_profile(a, "p1") == recased
    assert recased.email == "holder@example.com"


# Profiles: import


def test_import_profile_by_id_updates_that_profile(store: Store) -> None:
    a = account(store, "a")
    target = store.create_profile(a, person("p1", email="one@x.com"))
    store.create_profile(a, person("p2", email="two@x.com"))
    seen: list[Profile | None] = []

    def build(old: Profile | None) -> Profile:
        seen.append(old)
        assert old is not None
        return replace(old, first_name="Imported")

    # The id wins over identifiers that name another profile.
    stored, created = store.import_profile(a, "p1", {"email": "two@x.com"}, build)
    assert (stored, created) == (replace(target, first_name="Imported"), False)
    assert seen == [target]
    assert store.get_profile(a, "p1") == stored


def test_import_profile_unknown_id_raises_not_found(store: Store) -> None:
    a, b = account(store, "a"), account(store, "b")
    store.create_profile(b, person("p1", email="one@x.com"))
    seen: list[Profile | None] = []

    def build(old: Profile | None) -> Profile:
        seen.append(old)
        return person("p1", email="one@x.com")

    with pytest.raises(NotFound):
        store.import_profile(a, "p1", {"email": "one@x.com"}, build)
    assert seen == []
    assert everything(store, a) == []


def test_import_profile_identifiers_resolving_to_none_creates(store: Store) -> None:
    a = account(store, "a")
    store.create_profile(a, person("other", email="other@x.com"))
    seen: list[Profile | None] = []
    new = person("p1", email="New@x.com", phone_number="+15005550006")

    def build(old: Profile | None) -> Profile:
        seen.append(old)
        return new

    identifiers = {"email": "new@x.com", "phone_number": "+15005550006"}
    assert store.import_profile(a, None, identifiers, build) == (new, True)
    assert seen == [None]
    assert_exact(store.get_profile(a, "p1"), new)


def test_import_profile_identifiers_resolving_to_one_updates(store: Store) -> None:
    a = account(store, "a")
    for name in IDENTIFIERS:
        holder = store.create_profile(a, person(f"holder-{name}", **{name: VALUES[name]}))
        value = VALUES[name].lower() if name == "email" else VALUES[name]  # identifiers come normalised
        seen: list[Profile | None] = []

        def build(old: Profile | None, seen: list[Profile | None] = seen) -> Profile:
            seen.append(old)
            assert old is not None
            return replace(old, first_name="Imported")

        stored, created = store.import_profile(a, None, {name: value}, build)
        assert (stored, created) == (replace(holder, first_name="Imported"), False)
        assert seen == [holder]
        assert store.get_profile(a, holder.id) == stored


def test_import_profile_several_identifiers_of_one_profile_update_it(store: Store) -> None:
    a = account(store, "a")
    holder = store.create_profile(a, person("p1", **VALUES))
    identifiers = {"email": "holder@example.com", "phone_number": VALUES["phone_number"], "kx": VALUES["kx"]}
    stored, created = store.import_profile(a, None, identifiers, lambda old: replace(holder, title="T"))
    assert (stored, created) == (replace(holder, title="T"), False)
    assert ids(everything(store, a)) == ["p1"]


def test_import_profile_identifiers_resolving_to_two_raises_duplicate(store: Store) -> None:
    a = account(store, "a")
    # Ids against priority: the profile of the first identifier is named, not the lowest id.
    by_phone = store.create_profile(a, person("p9", phone_number=VALUES["phone_number"]))
    by_anonymous = store.create_profile(a, person("p5", anonymous_id=VALUES["anonymous_id"]))
    by_kx = store.create_profile(a, person("p1", kx=VALUES["kx"]))
    before = everything(store, a)

    def build(old: Profile | None) -> Profile:
        return person("new", email="nobody@x.com", phone_number=VALUES["phone_number"])

    identifiers = {
        "email": "nobody@x.com",  # resolves to none: the first identifier that resolves counts
        "phone_number": VALUES["phone_number"],
        "anonymous_id": VALUES["anonymous_id"],
        "kx": VALUES["kx"],
    }
    with pytest.raises(DuplicateProfile) as caught:
        store.import_profile(a, None, identifiers, build)
    assert duplicate_of(caught) == by_phone.id
    identifiers = {"anonymous_id": VALUES["anonymous_id"], "kx": VALUES["kx"]}
    with pytest.raises(DuplicateProfile) as caught:
        store.import_profile(a, None, identifiers, build)
    assert duplicate_of(caught) == by_anonymous.id
    assert everything(store, a) == before
    assert by_kx in before


def test_import_profile_build_raising_aborts(store: Store) -> None:
    a = account(store, "a")
    original = store.create_profile(a, person("p1", email="p@x.com", properties={"l": [1]}))

    def build(old: Profile | None) -> Profile:
        if old is not None:
            old.properties["l"].append(2)
        raise Boom

    with pytest.raises(Boom):
        store.import_profile(a, None, {"email": "p@x.com"}, build)
    with pytest.raises(Boom):
        store.import_profile(a, "p1", {}, build)
    with pytest.raises(Boom):
        store.import_profile(a, None, {"email": "new@x.com"}, build)
    assert_exact(store.get_profile(a, "p1"), original)
    assert ids(everything(store, a)) == ["p1"]


def test_import_profile_build_taking_another_profiles_identifier_raises_duplicate(store: Store) -> None:
    a = account(store, "a")
    holder = store.create_profile(a, person("holder", kx="kx-h"))
    target = store.create_profile(a, person("target", email="t@x.com"))
    with pytest.raises(DuplicateProfile) as caught:  # creating
        store.import_profile(a, None, {"email": "n@x.com"}, lambda old: person("new", email="n@x.com", kx="kx-h"))
    assert duplicate_of(caught) == holder.id
    with pytest.raises(DuplicateProfile) as caught:  # updating
        store.import_profile(a, None, {"email": "t@x.com"}, lambda old: replace(target, kx="kx-h"))
    assert duplicate_of(caught) == holder.id
    assert everything(store, a) == [holder, target]


# Profiles: merge


def test_merge_profiles_replaces_destination_and_deletes_source(store: Store) -> None:
    a = account(store, "a")
    destination = store.create_profile(a, person("dest", email="d@x.com", properties={"a": 1, "both": "d"}))
    source = store.create_profile(
        a, person("src", phone_number="+15005550006", kx="kx-s", properties={"b": 2, "both": "s"})
    )
    seen: list[tuple[Profile, Profile]] = []

    def merge(d: Profile, s: Profile) -> Profile:
        seen.append((d, s))
        # The source's phone moves to the destination; its kx goes with it.
        return replace(d, phone_number=s.phone_number, properties={**s.properties, **d.properties}, updated=NOW + 1)

    expected = replace(
        destination, phone_number="+15005550006", properties={"a": 1, "b": 2, "both": "d"}, updated=NOW + 1
    )
    assert_exact(store.merge_profiles(a, "dest", "src", merge), expected)
    assert seen == [(destination, source)]
    assert_exact(store.get_profile(a, "dest"), expected)
    assert store.get_profile(a, "src") is None
    assert ids(everything(store, a)) == ["dest"]
    store.create_profile(a, person("new", kx="kx-s"))  # freed with the source
    with pytest.raises(DuplicateProfile) as caught:
        store.create_profile(a, person("other", phone_number="+15005550006"))
    assert duplicate_of(caught) == "dest"


def test_merge_profiles_missing_profile_raises_not_found(store: Store) -> None:
    a, b = account(store, "a"), account(store, "b")
    store.create_profile(a, person("dest", email="d@x.com"))
    store.create_profile(a, person("src", email="s@x.com"))
    store.create_profile(b, person("elsewhere", email="e@x.com"))
    before = everything(store, a)
    called: list[Profile] = []

    def merge(d: Profile, s: Profile) -> Profile:
        called.append(d)
        return d

    for destination_id, source_id in [("missing", "src"), ("dest", "missing"), ("dest", "elsewhere")]:
        with pytest.raises(NotFound):
            store.merge_profiles(a, destination_id, source_id, merge)
    assert called == []
    assert everything(store, a) == before
    assert ids(everything(store, b)) == ["elsewhere"]


def test_merge_profiles_merge_raising_aborts(store: Store) -> None:
    a = account(store, "a")
    before = [store.create_profile(a, person("dest", email="d@x.com")), store.create_profile(a, person("src"))]

    def merge(d: Profile, s: Profile) -> Profile:
        raise Boom

    with pytest.raises(Boom):
        store.merge_profiles(a, "dest", "src", merge)
    assert everything(store, a) == before


def test_merge_profiles_result_taking_a_third_profiles_identifier_raises_duplicate(store: Store) -> None:
    a = account(store, "a")
    before = [
        store.create_profile(a, person("dest", email="d@x.com")),
        store.create_profile(a, person("src", email="s@x.com")),
        store.create_profile(a, person("third", kx="kx-3")),
    ]
    with pytest.raises(DuplicateProfile) as caught:
        store.merge_profiles(a, "dest", "src", lambda d, s: replace(d, kx="kx-3"))
    assert duplicate_of(caught) == "third"
    assert everything(store, a) == before


# Profiles: list

T = [
    at("2024-03-01T12:00:00.000001Z"),
    at("2024-03-02T12:00:00.000002Z"),
    at("2024-03-03T12:00:00.000003Z"),
    at("2024-03-04T12:00:00.000004Z"),
]
# Ids, emails and timestamps chosen for ties, case, punctuation and non-ASCII: the order is Python's
# (code points), whatever a database's collation would say.
LISTED = [
    person("01HZA", email="Ann@Example.com", phone_number="+15005550001", external_id="ext-1", created=T[0]),
    person("01hza", anonymous_id="anon-2", created=T[0], updated=T[1]),
    person("01HZB", email="a.b@x.com", kx="kx-3", created=T[1], updated=T[1]),
    person("01_x", email="ab@x.com", external_id="ext-4", created=T[2], updated=T[0]),
    person("01-x", email="a_b@x.com", phone_number="+15005550005", created=T[0] + 0.000001, updated=T[2]),
    person("0A", kx="kx-6", created=T[2], updated=T[2]),
    person("9", email="Zed@x.com", created=T[3], updated=T[3]),
    person("a", email="émile@x.com", external_id="EXT-1", created=T[1], updated=T[0]),
    person("B", email="a-c@x.com", created=T[3], updated=T[1]),
    person("b~", phone_number="+15005550010", created=T[1], updated=T[3]),
]
# Not stored in the listed account: positions between, before, after and tied with the listed ones.
GHOSTS = [
    person("", email="", created=0.0, updated=0.0),
    person("01HZ", email="a@x.com", created=T[0], updated=T[1]),
    person("01HZAB", email="ann@example.com", created=T[1], updated=T[2]),
    person("zz", email="zzz@x.com", created=T[3] + 1, updated=T[3] + 1),
]
FILTERS = [
    'equals(email,"ann@EXAMPLE.com")',
    'any(email,["a.b@x.com","ZED@x.com","nobody@x.com"])',
    'equals(phone_number,"+15005550005")',
    'any(phone_number,["+15005550001","+15005550010"])',
    'equals(external_id,"ext-1")',
    'any(external_id,["ext-4","EXT-1"])',
    'equals(id,"01hza")',
    'any(id,["01HZA","B","missing"])',
    'equals(_kx,"kx-6")',
    "greater-than(created,2024-03-01T12:00:00.000001Z)",
    "less-than(updated,2024-03-03T12:00:00.000003Z)",
    "greater-than(updated,2024-03-02T00:00:00+00:00)",
    'not(equals(email,"ann@example.com"))',
    'not(any(external_id,["ext-1","ext-4"]))',
    'or(equals(_kx,"kx-3"),equals(phone_number,"+15005550010"))',
    "and(greater-than(created,2024-03-01T00:00:00Z),less-than(created,2024-03-03T00:00:00Z))",
    'equals(email,"ann@example.com"),equals(external_id,"ext-1")',
    "greater-than(subscriptions.email.marketing.suppression.timestamp,2020-01-01T00:00:00Z)",
    'not(equals(subscriptions.email.marketing.list_suppressions.reason,"x"))',
]


def listed_store(store: Store) -> str:
    a, other = account(store, "listed"), account(store, "other")
    for profile in LISTED:
        store.create_profile(a, profile)
    for ghost in GHOSTS:
        store.create_profile(other, ghost)
    return a


def reference(profiles: list[Profile], sort: Sort, start: Position | None, backwards: bool, limit: int) -> list[str]:
    order = sorted(profiles, key=lambda profile: position(profile, sort), reverse=sort.descending)
    found = [profile for profile in order if start is None or after(profile, sort, start, backwards)]
    if backwards:
        found.reverse()
    return ids(found[:limit])


@pytest.mark.parametrize("name", SORTS)
def test_list_profiles_every_sort_both_ways_from_every_start(store: Store, name: str) -> None:
    a = listed_store(store)
    sort = Sort.parse(name)
    assert ids(store.list_profiles(a, None, sort, None, False, 100)) == reference(LISTED, sort, None, False, 100)
    for start in [position(profile, sort) for profile in LISTED + GHOSTS]:
        for backwards in (False, True):
            for limit in (3, 100):
                got = ids(store.list_profiles(a, None, sort, start, backwards, limit))
                assert got == reference(LISTED, sort, start, backwards, limit), (start, backwards, limit)


def test_list_profiles_limit(store: Store) -> None:
    a = listed_store(store)
    for limit in (1, 2, len(LISTED) - 1, len(LISTED), len(LISTED) + 1):
        got = ids(store.list_profiles(a, None, Sort("created", descending=True), None, False, limit))
        assert got == reference(LISTED, Sort("created", descending=True), None, False, limit)


def test_list_profiles_filters_agree_with_matches(store: Store) -> None:
    a = listed_store(store)
    for text in FILTERS:
        where = parse_filter(text)
        expected = [profile for profile in LISTED if matches(where, profile)]
        assert ids(store.list_profiles(a, where, Sort("id"), None, False, 100)) == sorted(ids(expected)), text


def test_list_profiles_filter_with_sort_start_and_limit(store: Store) -> None:
    a = listed_store(store)
    for text in ('not(equals(email,"ann@example.com"))', "greater-than(updated,2024-03-02T00:00:00Z)"):
        where = parse_filter(text)
        expected = [profile for profile in LISTED if matches(where, profile)]
        for name in ("email", "-email", "created", "-updated"):
            sort = Sort.parse(name)
            for start in [position(profile, sort) for profile in LISTED]:
                for backwards in (False, True):
                    got = ids(store.list_profiles(a, where, sort, start, backwards, 2))
                    assert got == reference(expected, sort, start, backwards, 2), (text, name, start, backwards)


def test_list_profiles_lists_only_the_accounts_profiles(store: Store) -> None:
    a = listed_store(store)
    other = account(store, "other")
    empty = account(store, "empty")
    assert sorted(ids(everything(store, a))) == sorted(ids(LISTED))
    assert sorted(ids(everything(store, other))) == sorted(ids(GHOSTS))
    assert everything(store, empty) == []
    ghost_ids = parse_filter('any(id,["01HZ","zz"])')
    assert store.list_profiles(a, ghost_ids, Sort("id"), None, False, 100) == []
    assert store.list_profiles(empty, None, Sort("email"), position(LISTED[0], Sort("email")), True, 100) == []


# Reset


def test_reset_account_removes_only_its_profiles(store: Store) -> None:
    a, b = account(store, "a"), account(store, "b")
    store.add_key(key(a, 1))
    store.create_profile(a, person("p1", email="p@x.com"))
    store.create_profile(a, person("p2", kx="k"))
    kept = store.create_profile(b, person("q1", email="p@x.com"))
    store.reset(a)
    assert everything(store, a) == []
    assert store.get_profile(a, "p1") is None
    assert everything(store, b) == [kept]
    store.create_profile(a, person("p3", email="p@x.com"))  # its identifiers are free again
    assert store.list_keys() == [key(a, 1)]
    assert store.account_by_name("a") == Account(a, "a", NOW)


def test_reset_removes_every_profile_but_keeps_keys_and_accounts(store: Store) -> None:
    a, b = account(store, "a"), account(store, "b")
    keys = [key(a, 1), key(b, 2, created=NOW + 1)]
    for record in keys:
        store.add_key(record)
    store.create_profile(a, person("p1", email="p@x.com"))
    store.create_profile(b, person("q1", email="q@x.com"))
    accounts = sorted(store.list_accounts(), key=lambda found: found.id)
    store.reset()
    assert everything(store, a) == []
    assert everything(store, b) == []
    assert store.list_keys() == keys
    assert store.key_by_hash(keys[0].hash) == keys[0]
    assert sorted(store.list_accounts(), key=lambda found: found.id) == accounts


# Concurrency: read-modify-write is atomic, uniqueness holds between a check and a write

THREADS = 8
UPDATES = 25


def appending(value: str) -> Callable[[Profile], Profile]:
    def change(old: Profile) -> Profile:
        time.sleep(0.0005)  # widen the window between the read and the write
        return replace(old, properties={**old.properties, "items": [*old.properties.get("items", []), value]})

    return change


def append_concurrently(stores: list[Store], account_id: str, profile_id: str) -> None:
    start = threading.Barrier(THREADS)

    def work(worker: int) -> None:
        store = stores[worker % len(stores)]
        start.wait()
        for n in range(UPDATES):
            store.update_profile(account_id, profile_id, appending(f"{worker}-{n}"))

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, range(THREADS)))
    stored = stores[0].get_profile(account_id, profile_id)
    assert stored is not None
    items = stored.properties["items"]
    assert len(items) == THREADS * UPDATES
    assert sorted(items) == sorted(f"{worker}-{n}" for worker in range(THREADS) for n in range(UPDATES))
    for worker in range(THREADS):  # each thread's appends in its own order
        mine = [item for item in items if item.startswith(f"{worker}-")]
        assert mine == [f"{worker}-{n}" for n in range(UPDATES)]


def create_concurrently(stores: list[Store], account_id: str) -> None:
    start = threading.Barrier(THREADS)

    def work(worker: int) -> str:
        store = stores[worker % len(stores)]
        start.wait()
        try:
            return store.create_profile(
                account_id, person(f"c{worker}", email="race@x.com" if worker % 2 else "RACE@x.com")
            ).id
        except DuplicateProfile as duplicate:
            return f"duplicate of {duplicate.duplicate_profile_id}"

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(work, range(THREADS)))
    winners = [outcome for outcome in outcomes if not outcome.startswith("duplicate")]
    assert len(winners) == 1, outcomes
    assert sorted(outcomes) == sorted([winners[0]] + [f"duplicate of {winners[0]}"] * (THREADS - 1))
    assert ids(everything(stores[0], account_id)) == winners


def import_concurrently(stores: list[Store], account_id: str) -> None:
    start = threading.Barrier(THREADS)

    def work(worker: int) -> bool:
        store = stores[worker % len(stores)]

        def build(old: Profile | None) -> Profile:
            time.sleep(0.0005)
            if old is None:
                return person(f"i{worker}", email="import@x.com", properties={"seen": [worker]})
            return replace(old, properties={"seen": [*old.properties["seen"], worker]})

        start.wait()
        return store.import_profile(account_id, None, {"email": "import@x.com"}, build)[1]

    with ThreadPoolExecutor(THREADS) as pool:
        created = list(pool.map(work, range(THREADS)))
    assert created.count(True) == 1
    [stored] = everything(stores[0], account_id)
    assert sorted(stored.properties["seen"]) == list(range(THREADS))


def test_update_profile_concurrent_appends_lose_nothing(store: Store) -> None:
    a = account(store, "a")
    store.create_profile(a, person("p1", email="p@x.com"))
    append_concurrently([store], a, "p1")


def test_create_and_import_profile_concurrent_same_identifier_one_profile(store: Store) -> None:
    a, b = account(store, "a"), account(store, "b")
    create_concurrently([store], a)
    import_concurrently([store], b)


def test_update_profile_concurrent_appends_through_two_stores_lose_nothing(backend: Backend) -> None:
    if not backend.shared:
        pytest.skip("each store of this backend is a database of its own")
    stores = [backend.open(), backend.open()]  # as two server processes would have
    a = account(stores[0], "a")
    stores[0].create_profile(a, person("p1", email="p@x.com"))
    append_concurrently(stores, a, "p1")
    b, c = account(stores[1], "b"), account(stores[1], "c")
    create_concurrently(stores, b)
    import_concurrently(stores, c)
