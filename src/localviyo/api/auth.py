"""Who is asking: `Authorization: Klaviyo-API-Key pk_…` → the key's account and scopes."""

from __future__ import annotations

import functools
import hmac

from localviyo.core.keys import hash_key
from localviyo.errors import AuthenticationFailed, NotAuthenticated
from localviyo.storage.base import KeyRecord, Store

SCHEME = "klaviyo-api-key"
MISSING_KEY = "Missing or invalid private key."
INCORRECT_KEY = "Incorrect authentication credentials."


def authenticate(authorization: str | None, store: Store) -> KeyRecord:
    """The live key named by the header; 401 otherwise.

    No header, or one that does not carry a private key in Klaviyo's scheme (OAuth `Bearer` tokens
    included: we do not issue them), is `not_authenticated`; a key we do not know, or a revoked one,
    is `authentication_failed` — the two bodies Klaviyo was seen to send.
    """
    scheme, _, key = (authorization or "").strip().partition(" ")
    key = key.strip()
    if scheme.lower() != SCHEME or not key:
        raise NotAuthenticated(MISSING_KEY, pointer="/data/")
    key_hash = _hash(key)
    record = store.key_by_hash(key_hash)
    if record is None or record.revoked is not None or not hmac.compare_digest(key_hash, record.hash):
        raise AuthenticationFailed(INCORRECT_KEY, pointer="/data/")
    return record


@functools.lru_cache(maxsize=1024)
def _hash(key: str) -> str:
    """A client sends the same few keys over and over: each is hashed once, not once a request."""
    return hash_key(key)
