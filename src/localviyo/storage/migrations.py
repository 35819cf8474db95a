"""Schema versions, applied in order at start-up and by `localviyo migrate`; names are never reused.

Every table is keyed by account first, so an account's rows sit together and a distributed database can
shard by account.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_accounts_keys_profiles",
        """
        CREATE TABLE accounts (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created REAL NOT NULL
        );
        CREATE TABLE api_keys (
            hash TEXT PRIMARY KEY,
            account_id TEXT NOT NULL REFERENCES accounts (id),
            label TEXT NOT NULL,
            scopes TEXT NOT NULL,
            created REAL NOT NULL,
            revoked REAL
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
            created REAL NOT NULL,
            updated REAL NOT NULL,
            body BLOB NOT NULL,
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
    ),
]
