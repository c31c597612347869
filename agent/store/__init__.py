"""Durable storage of customers, calls, answers, tickets, attempts, the do-not-call list and the
webhook outbox: SQLite (one file, the default) or PostgreSQL (a ``postgresql://`` DSN)."""

from __future__ import annotations

from pathlib import Path

from .base import BaseStore, StoreError, StoreSink
from .sqlite import Store

__all__ = ["BaseStore", "Store", "StoreError", "StoreSink", "is_database_url", "open_store"]


def is_database_url(location: str | Path) -> bool:
    """Whether ``location`` names a PostgreSQL server (``postgresql://…``, ``postgres://…``), not a file."""
    return str(location).startswith(("postgresql://", "postgres://"))


def open_store(location: str | Path, create: bool = True, key_file: str | Path | None = None) -> BaseStore:
    """``postgresql://…`` / ``postgres://…`` → PostgreSQL; anything else is a SQLite file path, made
    when missing only with ``create`` (else ``StoreError``: "no such database: PATH"). Encrypted
    values are written and read with the key in ``key_file`` (else ``$ENCUESTADOR_KEY_FILE``; none: clear)."""
    from ..privacy.crypto import load_keyring

    keyring = load_keyring(key_file)        # a bad key file is refused before the database is touched
    text = str(location)
    if is_database_url(text):
        from .postgres import PostgresStore

        store: BaseStore = PostgresStore(text)
    else:
        store = Store(text, create=create)
    store.keyring = keyring
    return store
