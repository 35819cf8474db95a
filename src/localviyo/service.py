"""ProfileService: the operations of the Profiles API over a store, with time and ids injected.

Handlers parse and render; every rule about what a request does to the stored profiles lives here or in
`core/`.
"""

from __future__ import annotations

import msgspec

from localviyo.clock import Clock, Ids
from localviyo.core.document import NO_IDENTIFIER, Changes, DocumentRules
from localviyo.core.patch import apply_changes
from localviyo.core.profile import Profile
from localviyo.errors import Invalid, profile_not_found
from localviyo.storage.base import Store


class ProfileService:
    def __init__(self, store: Store, clock: Clock, ids: Ids, rules: DocumentRules | None = None) -> None:
        self.store = store
        self.rules = rules or DocumentRules()
        self.clock = clock
        self.ids = ids

    def get_profile(self, account_id: str, profile_id: str) -> Profile:
        profile = self.store.get_profile(account_id, profile_id)
        if profile is None:
            raise profile_not_found(profile_id)
        return profile

    def create_profile(self, account_id: str, changes: Changes) -> Profile:
        now = self.clock.time()
        profile = apply_changes(Profile(id=self.ids.ulid(), created=now, updated=now), changes)
        return self.store.create_profile(account_id, profile)

    def update_profile(self, account_id: str, profile_id: str, changes: Changes) -> Profile:
        def change(old: Profile) -> Profile:
            new = apply_changes(old, changes)
            if new.same_content(old):
                return old  # a no-op keeps `updated` where it was
            if not new.has_identifier():
                raise Invalid(NO_IDENTIFIER, pointer="/data/attributes")
            return msgspec.structs.replace(new, updated=self.clock.time())

        return self.store.update_profile(account_id, profile_id, change)
