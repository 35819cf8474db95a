"""PostgreSQL: for several server processes, on one host or many.

psycopg 3 with a connection pool (imported only when a postgresql:// URL is used; install the
`postgres` extra). Each unit of work is one transaction; read-modify-write locks the row
(`SELECT … FOR UPDATE`); identifier uniqueness is enforced by unique indexes, so two processes racing to
create the same email cannot both succeed. Bodies are `json` (exactly the text written); `properties` is
also kept as JSONB. Calls block on the network, so the server runs them in worker threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import psycopg
import psycopg.errors
from psycopg_pool import ConnectionPool

from localviyo.storage.relational import Connection, RelationalStore

# pg_advisory_xact_lock key for migrations and the first key: "lviyo" in ASCII.
_MIGRATION_LOCK = 0x6C7669796F


class PostgresStore(RelationalStore):
    dialect: ClassVar[str] = "postgresql"
    BODY_IN = "?::json"
    BODY_OUT = "body::text"
    FOR_UPDATE = " FOR UPDATE"
    UNIQUE_VIOLATION = (psycopg.errors.UniqueViolation,)

    def __init__(self, url: str, *, external_id_unique: bool = True, pool_size: int = 10) -> None:
        self.inline = False
        self.external_id_unique = external_id_unique
        self._pool = ConnectionPool(url, min_size=1, max_size=pool_size, open=True, kwargs={"autocommit": False})
        self._queries: dict[str, str] = {}

    def _q(self, sql: str) -> str:
        converted = self._queries.get(sql)
        if converted is None:
            # Our SQL never holds a literal "?" or "%": placeholders are the only ones.
            converted = self._queries[sql] = sql.replace("?", "%s")
        return converted

    @contextmanager
    def _write(self, *, one_statement: bool = False) -> Iterator[Connection]:
        with self._pool.connection() as connection, connection.transaction():
            yield connection

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._pool.connection() as connection:
            yield connection

    def _lock_migrations(self, db: Connection) -> None:
        db.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))

    def _body(self, profile: Any) -> Any:
        return super()._body(profile).decode()

    def close(self) -> None:
        self._pool.close()
