"""Durable storage of customers, calls, answers, tickets, attempts, the do-not-call list and the
webhook outbox: SQLite (one file, the default) or PostgreSQL (a ``postgresql://`` DSN)."""

from __future__ import annotations

from pathlib import Path

from .base import BaseStore, StoreSink
from .sqlite import Store

__all__ = ["BaseStore", "Store", "StoreSink", "open_store"]


def open_store(location: str | Path) -> BaseStore:
    """``postgresql://…`` / ``postgres://…`` → PostgreSQL; anything else is a SQLite file path."""
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(text)
    return Store(text)
