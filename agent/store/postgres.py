"""PostgreSQL by DSN (psycopg 3): several workers and dialers on one database.

The same schema and SQL as SQLite (``?`` placeholders are turned into ``%s``); claims lock the
customer's row (``SELECT … FOR UPDATE``) so two dialers never open an attempt for one customer.
"""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from .base import BaseStore, StoreError


def _pg(sql: str, params: tuple | None) -> tuple[str, tuple | None]:
    if not params:
        return sql, None            # no parameters: psycopg leaves % alone
    return sql.replace("%", "%%").replace("?", "%s"), params


def redacted(dsn: str) -> str:
    """The DSN without its password, for messages."""
    return re.sub(r"(password=)[^&\s]*", r"\1***", re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", dsn))


SCHEMA_LOCK_KEY = 0x656E6375  # "encu": the advisory lock that serialises migrations


class _Connection:
    """What ``transaction()`` yields: ``execute`` with ``?`` placeholders, rows as dicts."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: tuple = ()) -> Any:
        return self._conn.execute(*_pg(sql, params))


class PostgresStore(BaseStore):
    row_lock = " FOR UPDATE"

    def __init__(self, dsn: str) -> None:
        import psycopg
        from psycopg.rows import dict_row

        self.dsn = dsn
        self._lock = threading.RLock()
        try:
            self._conn = psycopg.connect(dsn, autocommit=True, row_factory=dict_row)
            self._migrate()
        except psycopg.Error as e:
            raise StoreError(f"PostgreSQL {redacted(dsn)}: {str(e).strip().splitlines()[0]}") from e

    def check_writable(self) -> None:
        import psycopg

        try:
            super().check_writable()
        except psycopg.Error as e:
            raise StoreError(f"PostgreSQL {redacted(self.dsn)}: cannot write: {str(e).strip().splitlines()[0]}") from e

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _lock_schema(self, conn: _Connection) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK_KEY,))

    def _ddl(self, statement: str) -> str | None:
        return re.sub(r"INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY", statement)

    def _run(self, sql: str, params: tuple = ()) -> Any:
        with self._lock:
            return self._conn.execute(*_pg(sql, params))

    def _rows(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._conn.execute(*_pg(sql, params)).fetchall())

    @contextmanager
    def transaction(self) -> Iterator[_Connection]:
        with self._lock, self._conn.transaction():
            yield _Connection(self._conn)
