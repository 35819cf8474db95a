"""Stores of N profiles for the benchmarks, built fast and cached.

Profiles are generated deterministically from their index (ids, emails, names, properties), turned into
rows by the store's own row builder (so the stored bodies and key columns are exactly what the server
writes), and bulk-inserted through SQL in one transaction: a million profiles take well under a minute,
against hours through HTTP.

SQLite stores are cached under bench/.stores/, keyed by size and by a schema key (a hash of localviyo's
migrations, of the Profile fields and of this generator's version), next to the files the load generator
reads: every id and every (URL-encoded) email, one a line. Benchmarks never touch the cached file: each
server gets a fresh copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from localviyo import accounts
from localviyo.clock import SystemClock
from localviyo.core.keys import FULL_ACCESS
from localviyo.core.profile import Profile
from localviyo.storage.migrations import MIGRATIONS
from localviyo.storage.relational import RelationalStore
from localviyo.storage.sqlite import SQLiteStore

GENERATOR_VERSION = 1  # bump when the generated profiles change
ACCOUNT = "bench"
STORES = Path(__file__).resolve().parent / ".stores"
BASE_MS = 1_700_000_000_000  # ids and timestamps start here (2023-11-14)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_FIRST = [
    "sarah",
    "james",
    "maria",
    "david",
    "linda",
    "robert",
    "emma",
    "liam",
    "olivia",
    "noah",
    "ava",
    "lucas",
    "mia",
    "ethan",
    "sofia",
    "mason",
    "isabella",
    "logan",
    "amelia",
    "oliver",
    "harper",
    "elijah",
    "chloe",
    "henry",
    "grace",
    "jack",
    "zoe",
    "leo",
    "nora",
    "owen",
]
_LAST = [
    "mason",
    "downing",
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "lopez",
    "wilson",
    "anderson",
    "thomas",
    "taylor",
    "moore",
    "jackson",
    "martin",
    "lee",
    "perez",
    "thompson",
    "white",
    "harris",
    "clark",
    "lewis",
]
_PLACES = (
    ("New York", "NY", "United States", "10017", "America/New_York"),
    ("Boston", "MA", "United States", "02110", "America/New_York"),
    ("Chicago", "IL", "United States", "60601", "America/Chicago"),
    ("Denver", "CO", "United States", "80202", "America/Denver"),
    ("Seattle", "WA", "United States", "98101", "America/Los_Angeles"),
    ("London", "England", "United Kingdom", "EC1A 1BB", "Europe/London"),
    ("Toronto", "ON", "Canada", "M5H 2N2", "America/Toronto"),
    ("Berlin", "Berlin", "Germany", "10115", "Europe/Berlin"),
)
_PLANS = ("free", "silver", "gold", "platinum")
_CATEGORIES = ("shoes", "outerwear", "accessories", "knitwear", "denim", "bags", "running")


def schema_key() -> str:
    """Changes whenever the stored form could: localviyo's migrations, the Profile fields, this generator."""
    text = repr((MIGRATIONS, Profile.__struct_fields__, GENERATOR_VERSION))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def profile_id(index: int) -> str:
    """A ULID: 48 bits of milliseconds (one per profile, so ids sort by index), 80 pseudo-random bits."""
    rand = int.from_bytes(hashlib.blake2b(index.to_bytes(8, "big"), digest_size=10).digest(), "big")
    value = ((BASE_MS + index) << 80) | rand
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def email(index: int) -> str:
    first, last = _FIRST[index % len(_FIRST)], _LAST[(index // len(_FIRST)) % len(_LAST)]
    return f"{first}.{last}.{index}@example.com"


def profile(index: int) -> Profile:
    first, last = _FIRST[index % len(_FIRST)], _LAST[(index // len(_FIRST)) % len(_LAST)]
    city, region, country, zip_code, timezone = _PLACES[index % len(_PLACES)]
    created = (BASE_MS + index) / 1000
    return Profile(
        id=profile_id(index),
        email=email(index),
        phone_number=f"+4420{index:08d}",
        external_id=f"cust-{index:08d}",
        first_name=first.title(),
        last_name=last.title(),
        organization="Klaviyo Demo Outfitters",
        title="Customer",
        image=f"https://images.example.com/avatars/{index}.jpg",
        location={
            "address1": f"{index % 999 + 1} Main St",
            "city": city,
            "country": country,
            "region": region,
            "zip": zip_code,
            "timezone": timezone,
        },
        properties={
            "plan": _PLANS[index % len(_PLANS)],
            "newsletter": index % 3 != 0,
            "lifetime_orders": index % 50,
            "favorite_categories": [_CATEGORIES[index % 7], _CATEGORIES[(index + 3) % 7]],
            "signup_source": "checkout" if index % 2 else "popup",
            "viewed_skus": [f"SKU-{index % 10_000}"],
        },
        created=created,
        updated=created,
    )


@dataclass(frozen=True, slots=True)
class BuiltStore:
    """A pristine store and what the benchmarks need to address it."""

    size: int
    path: Path  # SQLite file (never benchmarked directly: see working_copy)
    key: str  # a full-access API key of the bench account
    account_id: str
    ids_file: Path  # every profile id, one a line
    emails_file: Path  # every email, URL-encoded, one a line
    build_seconds: float  # 0.0 when it came from the cache

    @property
    def ids(self) -> list[str]:
        return self.ids_file.read_text().split()


def _rows(store: RelationalStore, account_id: str, size: int) -> Iterator[tuple[Any, ...]]:
    for index in range(size):
        item = profile(index)
        yield (account_id, item.id, *store._row(item).values())


def _columns(store: RelationalStore) -> list[str]:
    return ["account_id", "id", *store._row(profile(0))]


def _write_lines(path: Path, lines: Iterator[str]) -> None:
    with path.open("w") as out:
        for line in lines:
            out.write(line + "\n")


def sqlite_store(size: int, directory: Path = STORES, *, log: Any = print) -> BuiltStore:
    """The cached store of `size` profiles, built if missing (older builds of that size are removed)."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"sqlite-{size}-{schema_key()}"
    path, meta_path = directory / f"{stem}.db", directory / f"{stem}.json"
    ids_file, emails_file = directory / f"{stem}.ids", directory / f"{stem}.emails"
    if path.exists() and meta_path.exists() and ids_file.exists() and emails_file.exists():
        meta = json.loads(meta_path.read_text())
        return BuiltStore(size, path, meta["key"], meta["account_id"], ids_file, emails_file, 0.0)
    for old in directory.glob(f"sqlite-{size}-*"):
        if not old.name.startswith(stem):
            old.unlink()
    log(f"building a SQLite store of {size:,} profiles in {path} ...")
    started = time.perf_counter()
    tmp = directory / f"{stem}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp"
    store = SQLiteStore(str(tmp))
    try:
        store.migrate()
        key = accounts.create_key(store, SystemClock(), account=ACCOUNT, scopes=(FULL_ACCESS,))
        account = store.account_by_name(ACCOUNT)
        assert account is not None
    finally:
        store.close()
    columns = _columns(store)
    db = sqlite3.connect(tmp, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = DELETE")  # new pages need no journal: the fastest bulk load
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -262144")
        db.execute("BEGIN")
        sql = f"INSERT INTO profiles ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        db.executemany(sql, _rows(store, account.id, size))
        db.execute("COMMIT")
        db.execute("PRAGMA journal_mode = WAL")  # as the server leaves it
    finally:
        db.close()
    _write_lines(ids_file, (profile_id(index) for index in range(size)))
    _write_lines(emails_file, (quote(email(index), safe="") for index in range(size)))
    meta_path.write_text(json.dumps({"key": key, "account_id": account.id, "size": size, "schema": schema_key()}))
    tmp.rename(path)
    seconds = time.perf_counter() - started
    log(f"built {size:,} profiles in {seconds:.1f} s ({path.stat().st_size / 1e6:.0f} MB)")
    return BuiltStore(size, path, key, account.id, ids_file, emails_file, seconds)


def working_copy(built: BuiltStore, directory: Path) -> Path:
    """A fresh copy of the pristine store, for one server to change; flushed to disk, so that the server's
    first checkpoint (an fsync) does not pay for writing back the whole copy."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"work-{built.size}-{uuid.uuid4().hex[:8]}.db"
    shutil.copyfile(built.path, target)
    with target.open("rb+") as copy:
        os.fsync(copy.fileno())
    return target


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class PostgresSchema:
    url: str  # the database URL with search_path set to the schema
    schema: str
    key: str
    account_id: str


def postgres_available(url: str) -> str | None:
    """None when PostgreSQL at `url` answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as error:  # the driver missing or the server down: either way no PostgreSQL here
        return f"PostgreSQL at {url} is not reachable: {error}"
    return None


def postgres_store(base_url: str, size: int, *, log: Any = print) -> PostgresSchema:
    """A fresh schema holding `size` profiles (drop it with drop_postgres_schema)."""
    import psycopg

    from localviyo.storage.postgres import PostgresStore

    schema = f"lv_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(base_url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in base_url else "?"
    url = f"{base_url}{separator}options={quote(f'-csearch_path={schema}')}"
    log(f"building a PostgreSQL store of {size:,} profiles in schema {schema} ...")
    started = time.perf_counter()
    store = PostgresStore(url, pool_size=1)
    try:
        store.migrate()
        key = accounts.create_key(store, SystemClock(), account=ACCOUNT, scopes=(FULL_ACCESS,))
        account = store.account_by_name(ACCOUNT)
        assert account is not None
        columns = _columns(store)
        marks = ", ".join("%s::json" if name == "body" else "%s" for name in columns)
        with psycopg.connect(url) as conn, conn.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO profiles ({', '.join(columns)}) VALUES ({marks})", _rows(store, account.id, size)
            )
            conn.execute("ANALYZE profiles")
    finally:
        store.close()
    log(f"built {size:,} profiles in {time.perf_counter() - started:.1f} s")
    return PostgresSchema(url, schema, key, account.id)


def drop_postgres_schema(base_url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
