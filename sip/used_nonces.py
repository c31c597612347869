"""Which digest nonces were already used: a nonce is taken once, then a replay is challenged again.

One ``serve`` remembers them in memory. The workers of ``serve --workers N`` share one SQLite file
(``ENCUESTADOR_NONCE_STORE``, written by the supervisor in its run directory): the nonce is the primary
key, so of two workers taking the same nonce at once exactly one insert succeeds. A store that cannot
be written refuses every nonce (the caller is challenged again) and says so on one log line.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from encuestador.store.sqlite import make_private_dirs

NONCE_STORE_ENV = "ENCUESTADOR_NONCE_STORE"  # set by ``serve --workers`` for its workers
BUSY_TIMEOUT_MS = 1000  # another worker's insert holds the file for microseconds; never block a call long

log = logging.getLogger("encuestador.sip")


class UsedNonces(Protocol):
    def take(self, nonce: str, expires_at: float) -> bool:
        """Mark ``nonce`` used until ``expires_at``: True the first time, False if it was used (or
        cannot be recorded)."""
        ...


@dataclass
class MemoryUsedNonces:
    """The used nonces of one process."""

    clock: Callable[[], float] = time.time
    _until: dict[str, float] = field(default_factory=dict, repr=False)  # nonce → when it expires

    def take(self, nonce: str, expires_at: float) -> bool:
        now = self.clock()
        for old in [n for n, until in self._until.items() if until <= now]:
            del self._until[old]
        if nonce in self._until:
            return False
        self._until[nonce] = expires_at
        return True


def create_private_file(path: Path) -> None:
    """``path``'s folders (0700 when new) and the file itself, 0600 (created, or made so)."""
    make_private_dirs(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


class SqliteUsedNonces:
    """The used nonces of every process that opens the same file."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._failing = False

    def take(self, nonce: str, expires_at: float) -> bool:
        with self._lock:
            try:
                conn = self._connection()
                with conn:  # one transaction: prune, then insert
                    conn.execute("DELETE FROM used_nonces WHERE expires_at <= ?", (self.clock(),))
                    conn.execute("INSERT INTO used_nonces (nonce, expires_at) VALUES (?, ?)", (nonce, expires_at))
                taken = True
            except sqlite3.IntegrityError:
                taken = False  # another worker, or this one, took it before
            except (sqlite3.Error, OSError) as e:
                self._fail(e)
                return False
            if self._failing:
                self._failing = False
                log.info("used-nonce store %s is writable again", self.path)
            return taken

    def prepare(self) -> None:
        """Create the file (0600) and its table now; OSError or sqlite3.Error says why it cannot be."""
        with self._lock:
            self._connection()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            create_private_file(self.path)
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=WAL")  # its -wal/-shm files take the file's mode, 0600
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("CREATE TABLE IF NOT EXISTS used_nonces "
                             "(nonce TEXT PRIMARY KEY, expires_at REAL NOT NULL) WITHOUT ROWID")
            except sqlite3.Error:
                conn.close()
                raise
            conn.isolation_level = "IMMEDIATE"  # ``with conn``: the write lock first, then commit or roll back
            self._conn = conn
        return self._conn

    def _fail(self, error: Exception) -> None:
        if self._conn is not None:  # reopened on the next INVITE: the file may have been replaced
            self._conn.close()
            self._conn = None
        if not self._failing:
            self._failing = True
            log.warning("used-nonce store %s cannot be written (%s): authenticated INVITEs are challenged "
                        "again until it can", self.path, error)


def used_nonces_for_this_process(clock: Callable[[], float] = time.time) -> UsedNonces:
    """The shared file named by ``ENCUESTADOR_NONCE_STORE`` (a worker of ``serve --workers``), else memory."""
    path = os.environ.get(NONCE_STORE_ENV)
    return SqliteUsedNonces(path, clock) if path else MemoryUsedNonces(clock)
