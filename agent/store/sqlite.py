"""SQLite in WAL mode: one file, no server (the default store)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .base import MIGRATIONS, BaseStore, StoreError, StoreSink, utc_now

__all__ = ["MIGRATIONS", "Store", "StoreError", "StoreSink", "utc_now"]


def make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parents, each new one mode 0700."""
    missing = []
    while not directory.exists() and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    for new in reversed(missing):
        new.mkdir(mode=0o700, exist_ok=True)
        os.chmod(new, 0o700)


def _prepare_file(path: Path, create: bool) -> bool:
    """Check what is at ``path``; create an empty private file (0600) when allowed. True when new."""
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a database file")
    if path.exists():
        return False
    if not create:
        raise StoreError(f"no such database: {path}")
    try:
        make_private_dirs(path.parent)
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False                    # another worker created it a moment ago
    except OSError as e:
        raise StoreError(f"cannot create database {path}: {e.strerror}") from e
    return True


def explain(path: Path, error: sqlite3.Error) -> str:
    """One line for the operator from SQLite's error."""
    text = str(error)
    if "not a database" in text:
        return f"{path} is not an SQLite database (give the encuestador database file)"
    if "readonly" in text or "read-only" in text:
        return f"{path} is read-only: the database (and its directory) must be writable"
    if "unable to open" in text:
        return f"cannot open {path}: check the permissions of the file and its directory"
    return f"{path}: {text}"


class Store(BaseStore):
    def __init__(self, path: str | Path, create: bool = True) -> None:
        """Open (``create``: or make, 0600 in 0700 directories) the database file at ``path``;
        ``StoreError`` when it is missing (and not ``create``), a directory, not SQLite or unreadable."""
        self.path = Path(path)
        self.created = _prepare_file(self.path, create)
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None,
                                         timeout=30)
            self._conn.row_factory = sqlite3.Row
            self._use_wal()
            self._conn.execute("PRAGMA synchronous=FULL")  # an answer heard survives power loss
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as e:
            raise StoreError(explain(self.path, e)) from e

    def check_writable(self) -> None:
        try:
            super().check_writable()
        except sqlite3.Error as e:
            raise StoreError(explain(self.path, e)) from e

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

    def _ddl(self, statement: str) -> str | None:
        return None if "ALTER COLUMN" in statement else statement  # SQLite columns hold any type

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _run(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)  # autocommit: one statement, one transaction

    def _rows(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
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
