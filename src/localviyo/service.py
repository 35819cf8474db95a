"""ProfileService: the operations of the Profiles API over a store, with time and ids injected.

Handlers parse and render; every rule about what a request does to the stored profiles lives here or in
`core/`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import msgspec

from localviyo.clock import Clock, Ids
from localviyo.core import merge
from localviyo.core.document import IMPORT_IDENTIFIERS, NO_IDENTIFIER, Changes, DocumentRules
from localviyo.core.filter import Node
from localviyo.core.listing import Position, Sort, position
from localviyo.core.patch import apply_changes
from localviyo.core.profile import Profile
from localviyo.errors import Invalid, NotFound, profile_not_found
from localviyo.storage.base import Store


@dataclass(frozen=True, slots=True)
class Page:
    profiles: list[Profile]
    next: Position | None  # where the next page starts, if there is one
    prev: Position | None  # where the previous page ends, if there is one


class ProfileService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        ids: Ids,
        rules: DocumentRules | None = None,
        *,
        merge_prefer: str = "destination",
    ) -> None:
        self.store = store
        self.merge_prefer = merge_prefer
        self.rules = rules or DocumentRules()
        self.clock = clock
        self.ids = ids

    def get_profile(self, account_id: str, profile_id: str) -> Profile:
        profile = self.store.get_profile(account_id, profile_id)
        if profile is None:
            raise profile_not_found(profile_id)
        return profile

    def _new(self, changes: Changes, profile_id: str | None = None) -> Profile:
        """A profile made from `changes`, created now; it must have an identifier."""
        now = self.clock.time()
        profile = apply_changes(Profile(id=profile_id or self.ids.ulid(), created=now, updated=now), changes)
        if not profile.has_identifier():
            raise Invalid(NO_IDENTIFIER, pointer="/data/attributes")
        return profile

    def create_profile(self, account_id: str, changes: Changes) -> Profile:
        return self.store.create_profile(account_id, self._new(changes))

    def _changed(self, old: Profile, changes: Changes) -> Profile:
        new = apply_changes(old, changes)
        if new.same_content(old):
            return old  # a no-op keeps `updated` where it was
        if not new.has_identifier():
            raise Invalid(NO_IDENTIFIER, pointer="/data/attributes")
        return msgspec.structs.replace(new, updated=self.clock.time())

    def update_profile(self, account_id: str, profile_id: str, changes: Changes) -> Profile:
        return self.store.update_profile(account_id, profile_id, lambda old: self._changed(old, changes))

    def create_or_update_profile(
        self, account_id: str, profile_id: str | None, changes: Changes
    ) -> tuple[Profile, bool]:
        """Returns the profile and whether it was created."""
        identifiers = {
            name: value.lower() if name == "email" else value
            for name in IMPORT_IDENTIFIERS
            if isinstance(value := changes.attributes.get(name), str)
        }

        def build(old: Profile | None) -> Profile:
            if old is not None:
                return self._changed(old, changes)
            return self._new(changes)

        return self.store.import_profile(account_id, profile_id, identifiers, build)

    def seed_profile(
        self,
        account_id: str,
        profile_id: str | None,
        changes: Changes,
        created: float | None = None,
        updated: float | None = None,
    ) -> Profile:
        """An upsert for seed files: by id (creating it with that id if needed) or by identifiers; given
        timestamps are kept, so seeded data can be as old as a test needs."""

        def stamp(profile: Profile) -> Profile:
            if created is None and updated is None:
                return profile
            first = profile.created if created is None else created
            return msgspec.structs.replace(profile, created=first, updated=updated if updated is not None else first)

        if profile_id is not None:
            try:
                return self.store.update_profile(account_id, profile_id, lambda old: stamp(self._changed(old, changes)))
            except NotFound:
                return self.store.create_profile(account_id, stamp(self._new(changes, profile_id)))
        profile, _ = self.create_or_update_profile(account_id, None, changes)
        if created is None and updated is None:
            return profile
        return self.store.update_profile(account_id, profile.id, stamp)

    def export(self, account_id: str, batch: int = 1000) -> Iterator[Profile]:
        """Every profile of the account, in id order, read a batch at a time."""
        start: Position | None = None
        while True:
            found = self.store.list_profiles(account_id, None, Sort("id"), start, False, batch)
            yield from found
            if len(found) < batch:
                return
            start = position(found[-1], Sort("id"))

    def merge_profiles(self, account_id: str, destination_id: str, source_id: str) -> Profile:
        def combine(destination: Profile, source: Profile) -> Profile:
            return merge.merge(destination, source, self.clock.time(), prefer=self.merge_prefer)

        return self.store.merge_profiles(account_id, destination_id, source_id, combine)

    def get_profiles(
        self,
        account_id: str,
        where: Node | None,
        sort: Sort,
        size: int,
        start: Position | None = None,
        backwards: bool = False,
    ) -> Page:
        """One page of `size` profiles from `start` (forwards, or backwards for a `prev` link)."""
        found = self.store.list_profiles(account_id, where, sort, start, backwards, size + 1)
        more = len(found) > size
        profiles = found[:size]
        if backwards:
            profiles.reverse()
        if not profiles:
            return Page([], None, None)  # nothing here: no way on that would not loop
        first, last = position(profiles[0], sort), position(profiles[-1], sort)
        if backwards:
            return Page(profiles, last if start is not None else None, first if more else None)
        behind = start is not None and bool(self.store.list_profiles(account_id, where, sort, first, True, 1))
        return Page(profiles, last if more else None, first if behind else None)
