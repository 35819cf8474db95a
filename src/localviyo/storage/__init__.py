"""Stores are chosen by URL: `sqlite:///path/to/file.db` (default), `sqlite://:memory:`."""

from __future__ import annotations

from urllib.parse import urlsplit

from localviyo.storage.base import Account, KeyRecord, Store

__all__ = ["Account", "KeyRecord", "Store", "open_store"]


class UnsupportedDatabase(ValueError):
    pass


def open_store(url: str, *, external_id_unique: bool = True) -> Store:
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from localviyo.storage.sqlite import SQLiteStore, sqlite_path

        return SQLiteStore(sqlite_path(url), external_id_unique=external_id_unique)
    raise UnsupportedDatabase(f"unsupported database URL {url!r}: expected sqlite:///PATH")
