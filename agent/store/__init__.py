"""Durable storage of customers, calls, answers, tickets, attempts, the do-not-call list and the
webhook outbox: SQLite (one file, the default) or PostgreSQL (a ``postgresql://`` DSN)."""

from __future__ import annotations

from pathlib import Path

from .base import BaseStore, StoreSink
from .sqlite import Store

__all__ = ["BaseStore", "Store", "StoreSink", "is_database_url", "open_store"]


def is_database_url(location: str | Path) -> bool:
    """Whether ``location`` names a PostgreSQL server (``postgresql://…``, ``postgres://…``), not a file."""
    return str(location).startswith(("postgresql://", "postgres://"))


def open_store(location: str | Path) -> BaseStore:
    """``postgresql://…`` / ``postgres://…`` → PostgreSQL; anything else is a SQLite file path."""
    text = str(location)
    if is_database_url(text):
        from .postgres import PostgresStore

        return PostgresStore(text)
    return Store(text)
