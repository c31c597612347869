"""SQLite in WAL mode: one file, no server (the default store)."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .base import MIGRATIONS, BaseStore, StoreSink, utc_now

__all__ = ["MIGRATIONS", "Store", "StoreSink", "utc_now"]


class Store(BaseStore):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None,
                                     timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._use_wal()
        self._conn.execute("PRAGMA synchronous=FULL")  # an answer heard survives power loss
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def _use_wal(self, wait_s: float = 30.0) -> None:
        """Switch a new database to WAL. The switch needs the database to itself and SQLite does not
        wait for that (no busy timeout), so when several workers open a new file at once, retry."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                if self._conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self._conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _run(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)  # autocommit: one statement, one transaction

    def query(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._conn.execute(sql, params)]

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken up front (``BEGIN IMMEDIATE``): checks made inside it still hold
        when it commits, even with several processes on one database."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
