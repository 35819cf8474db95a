"""Stores are chosen by URL: `sqlite:///path/to/file.db` (default), `sqlite://:memory:`,
`postgresql://user@host:5432/database` (needs the `postgres` extra; its driver is imported only then)."""

from __future__ import annotations

from urllib.parse import urlsplit

from localviyo.storage.base import Account, KeyRecord, Store

__all__ = ["Account", "KeyRecord", "Store", "open_store"]


class UnsupportedDatabase(ValueError):
    pass


def open_store(
    url: str,
    *,
    external_id_unique: bool = True,
    pool_size: int = 10,
    synchronous: str = "normal",
    checkpoints: str = "thread",
) -> Store:
    """`synchronous` is SQLite's durability (full, normal, off); PostgreSQL keeps its server's own."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from localviyo.storage.sqlite import SQLiteStore, sqlite_path

        return SQLiteStore(
            sqlite_path(url), external_id_unique=external_id_unique, synchronous=synchronous, checkpoints=checkpoints
        )
    if scheme in ("postgresql", "postgres"):
        try:
            from localviyo.storage.postgres import PostgresStore
        except ImportError as error:
            raise UnsupportedDatabase(
                f"{url!r} needs the PostgreSQL driver: pip install 'localviyo[postgres]' ({error})"
            ) from None
        return PostgresStore(url, external_id_unique=external_id_unique, pool_size=pool_size)
    raise UnsupportedDatabase(f"unsupported database URL {url!r}: expected sqlite:///PATH or postgresql://…")
