"""What the service needs from a store; every backend implements it and passes tests/test_storage_contract.py.

Writes that depend on what is stored (update, create with its uniqueness check) happen inside the store,
in one transaction, so no backend can lose an update or admit a duplicate identifier between a read and a
write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

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

    def reset(self, account_id: str | None = None) -> None:
        """Delete every profile (of one account, or all) — keys and accounts stay."""
        ...
