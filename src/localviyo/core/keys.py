"""Private API keys: their shape, how they are stored, and what they may do.

A key is `pk_` and 34 lowercase letters and digits, as Klaviyo's are. Only its SHA-256 is stored; a
request's key is hashed and looked up by that hash, then compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string

FULL_ACCESS = "*"
_ALPHABET = string.ascii_lowercase + string.digits
_SCOPE = re.compile(r"^[a-z][a-z-]*:(read|write)$")


def generate_key() -> str:
    return "pk_" + "".join(secrets.choice(_ALPHABET) for _ in range(34))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(key), stored_hash)


def label(key: str) -> str:
    return f"{key[:6]}…{key[-4:]}"


def parse_scopes(text: str) -> tuple[str, ...]:
    """`profiles:read,profiles:write` → a tuple; ValueError names the first bad scope."""
    scopes = tuple(part.strip() for part in text.split(",") if part.strip())
    for scope in scopes:
        if scope != FULL_ACCESS and not _SCOPE.match(scope):
            raise ValueError(f"invalid scope {scope!r}: expected RESOURCE:read or RESOURCE:write")
    if not scopes:
        raise ValueError("no scopes given")
    return scopes


def allows(granted: tuple[str, ...], required: tuple[str, ...]) -> bool:
    """A key may run an operation when it holds every scope the operation requires.

    Write access to a resource implies read access, as in Klaviyo's key editor (Read/Full/Custom).
    """
    if FULL_ACCESS in granted:
        return True
    have = set(granted)
    for scope in required:
        resource, _, access = scope.partition(":")
        if scope not in have and not (access == "read" and f"{resource}:write" in have):
            return False
    return True
