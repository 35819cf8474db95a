"""What the service needs from a store; every backend implements it and passes tests/test_storage_contract.py.

Writes that depend on what is stored (update, create with its uniqueness check) happen inside the store,
in one transaction, so no backend can lose an update or admit a duplicate identifier between a read and a
write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from localviyo.core.filter import Node
from localviyo.core.listing import Position, Sort
from localviyo.core.profile import Profile


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    created: float


@dataclass(frozen=True, slots=True)
class KeyRecord:
    hash: str  # sha256 of the key; the key itself is never stored
    account_id: str
    label: str  # the key's first and last characters, to tell keys apart in listings
    scopes: tuple[str, ...]
    created: float
    revoked: float | None = None


class Store(Protocol):
    # True when calls are quick enough to make on the event loop (SQLite); False sends them to threads.
    inline: bool

    def migrate(self) -> list[str]:
        """Apply pending migrations; return the names applied."""
        ...

    def close(self) -> None: ...

    def serve_on(self, loop: asyncio.AbstractEventLoop, *, group_commit: bool) -> None:
        """A server runs on `loop`, on the calling thread, from now on. With `group_commit`, the writes
        made there may share a transaction; whoever works there must then await `pending_commit()`
        before answering. Stores make what use of it they can, or none."""
        ...

    def pending_commit(self) -> asyncio.Future[None] | None:
        """The commit that work just done on the event loop's thread must wait for; None if there is none."""
        ...

    def write_gate(self) -> asyncio.Future[None] | None:
        """What a write about to be made on the event loop's thread should wait for first; None if
        nothing. Only for the store's speed: a write that does not wait is as correct."""
        ...

    def stop_serving(self) -> None:
        """The server that `serve_on` announced has stopped: end what it started (threads of the store's)."""
        ...

    def ensure_account(self, name: str, new_id: Callable[[], str], now: float) -> Account: ...

    def account_by_name(self, name: str) -> Account | None: ...

    def list_accounts(self) -> list[Account]: ...

    def add_key(self, key: KeyRecord) -> None: ...

    def add_first_key(self, key: KeyRecord) -> bool:
        """Add `key` only if the store has no key at all, atomically; whether it was added."""
        ...

    def key_by_hash(self, key_hash: str) -> KeyRecord | None: ...

    def list_keys(self) -> list[KeyRecord]: ...

    def revoke_key(self, key_hash: str, now: float) -> bool: ...

    def get_profile(self, account_id: str, profile_id: str) -> Profile | None: ...

    def create_profile(self, account_id: str, profile: Profile) -> Profile:
        """Insert; raise errors.DuplicateProfile naming the holder of the first identifier taken."""
        ...

    def update_profile(self, account_id: str, profile_id: str, change: Callable[[Profile], Profile]) -> Profile:
        """Read, `change`, write, atomically. errors.NotFound when absent; errors.DuplicateProfile when the
        changed profile takes another profile's identifier; anything `change` raises aborts the write."""
        ...

    def list_profiles(
        self,
        account_id: str,
        where: Node | None,
        sort: Sort,
        start: Position | None,
        backwards: bool,
        limit: int,
    ) -> list[Profile]:
        """Up to `limit` profiles matching `where`, in `sort` order, strictly after `start` (or strictly
        before it, nearest first, when `backwards`)."""
        ...

    def import_profile(
        self,
        account_id: str,
        profile_id: str | None,
        identifiers: dict[str, str],
        build: Callable[[Profile | None], Profile],
    ) -> tuple[Profile, bool]:
        """Create or update atomically: the profile `profile_id` names (errors.NotFound if none), else the
        one the `identifiers` (field -> normalised value, in priority order) resolve to; several different
        profiles give errors.DuplicateProfile naming the one of the first identifier. `build` receives it
        (None: create) and returns what to store. Returns the stored profile and whether it was created."""
        ...

    def merge_profiles(
        self,
        account_id: str,
        destination_id: str,
        source_id: str,
        merge: Callable[[Profile, Profile], Profile],
    ) -> Profile:
        """Replace the destination by `merge(destination, source)` and delete the source, atomically."""
        ...

    def reset(self, account_id: str | None = None) -> None:
        """Delete every profile (of one account, or all) — keys and accounts stay."""
        ...
