"""Schema versions, applied in order at start-up and by `localviyo migrate`; names are never reused.

One text serves SQLite and PostgreSQL: `{real}` and `{json}` stand for the column types that differ, and
a migration may add statements for one dialect only.

The body is the profile as we wrote it (PostgreSQL `json` keeps the text exactly, so numbers and key order
come back as sent); PostgreSQL also keeps `properties` as a generated JSONB column, for queries and GIN
indexes of a team's own.
Every profile table is keyed by account first, so an account's rows sit together and a distributed
database can shard by account.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str, dict[str, str]]] = [
    (
        "0001_accounts_keys_profiles",
        """
        CREATE TABLE accounts (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created {real} NOT NULL
        );
        CREATE TABLE api_keys (
            hash TEXT PRIMARY KEY,
            account_id TEXT NOT NULL REFERENCES accounts (id),
            label TEXT NOT NULL,
            scopes TEXT NOT NULL,
            created {real} NOT NULL,
            revoked {real}
        );
        CREATE TABLE profiles (
            account_id TEXT NOT NULL,
            id TEXT NOT NULL,
            email_key TEXT,
            phone_number_key TEXT,
            external_id TEXT,
            external_id_key TEXT,
            anonymous_id_key TEXT,
            kx_key TEXT,
            created {real} NOT NULL,
            updated {real} NOT NULL,
            body {json} NOT NULL,
            PRIMARY KEY (account_id, id)
        );
        CREATE UNIQUE INDEX profiles_email ON profiles (account_id, email_key) WHERE email_key IS NOT NULL;
        CREATE UNIQUE INDEX profiles_phone_number
            ON profiles (account_id, phone_number_key) WHERE phone_number_key IS NOT NULL;
        CREATE UNIQUE INDEX profiles_external_id
            ON profiles (account_id, external_id_key) WHERE external_id_key IS NOT NULL;
        CREATE UNIQUE INDEX profiles_anonymous_id
            ON profiles (account_id, anonymous_id_key) WHERE anonymous_id_key IS NOT NULL;
        CREATE UNIQUE INDEX profiles_kx ON profiles (account_id, kx_key) WHERE kx_key IS NOT NULL;
        CREATE INDEX profiles_external_id_lookup ON profiles (account_id, external_id) WHERE external_id IS NOT NULL;
        CREATE INDEX profiles_email_order ON profiles (account_id, coalesce(email_key, ''), id);
        CREATE INDEX profiles_created ON profiles (account_id, created, id);
        CREATE INDEX profiles_updated ON profiles (account_id, updated, id);
        """,
        {
            "postgresql": """
            ALTER TABLE profiles ADD COLUMN properties JSONB
                GENERATED ALWAYS AS ((body -> 'properties')::jsonb) STORED
            """
        },
    ),
    (
        # Keyset pages by email need a plain column: neither database range-scans a row value over an
        # expression index.
        "0002_email_sort_column",
        """
        ALTER TABLE profiles ADD COLUMN email_sort TEXT NOT NULL DEFAULT '';
        UPDATE profiles SET email_sort = coalesce(email_key, '');
        DROP INDEX profiles_email_order;
        CREATE INDEX profiles_email_sort ON profiles (account_id, email_sort, id);
        """,
        {},
    ),
]

DIALECTS = {
    "sqlite": {"real": "REAL", "json": "BLOB"},
    "postgresql": {"real": "DOUBLE PRECISION", "json": "JSON"},
}


def statements(sql: str, extra: dict[str, str], dialect: str) -> list[str]:
    text = sql.format(**DIALECTS[dialect]) + ";" + extra.get(dialect, "")
    return [statement.strip() for statement in text.split(";") if statement.strip()]
