"""Accounts and their keys: what `serve` does on an empty store and what `localviyo keys` manages."""

from __future__ import annotations

import secrets
import string

from localviyo.clock import Clock
from localviyo.core.keys import FULL_ACCESS, generate_key, hash_key, label
from localviyo.storage.base import Account, KeyRecord, Store

DEFAULT_ACCOUNT = "default"
_ID_ALPHABET = string.ascii_letters + string.digits


def new_account_id() -> str:
    """Six letters and digits, the shape of a Klaviyo account's public key (e.g. `Y6nRLr`)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(6))


def ensure_account(store: Store, name: str, clock: Clock) -> Account:
    return store.ensure_account(name, new_account_id, clock.time())


def _new_key(store: Store, clock: Clock, account: str, scopes: tuple[str, ...]) -> tuple[str, KeyRecord]:
    owner = ensure_account(store, account, clock)
    key = generate_key()
    return key, KeyRecord(hash_key(key), owner.id, label(key), scopes, clock.time())


def create_key(store: Store, clock: Clock, *, account: str = DEFAULT_ACCOUNT, scopes: tuple[str, ...]) -> str:
    """A new key for `account` (created if needed); returns the key, which is not stored anywhere."""
    key, record = _new_key(store, clock, account, scopes)
    store.add_key(record)
    return key


def first_run_key(store: Store, clock: Clock) -> str | None:
    """On a store with no keys at all, a full-access key for the default account, so a new user can make
    a request at once. None when keys exist (also when another process made the first key meanwhile)."""
    if store.list_keys():
        return None
    key, record = _new_key(store, clock, DEFAULT_ACCOUNT, (FULL_ACCESS,))
    return key if store.add_first_key(record) else None


def revoke_key(store: Store, clock: Clock, key: str) -> bool:
    return store.revoke_key(hash_key(key), clock.time())
