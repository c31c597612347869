"""The console's own tables, created beside the store's (``CREATE TABLE IF NOT EXISTS``, SQLite and
PostgreSQL alike): nothing in the store's migrations changes."""

from __future__ import annotations

from ..store import BaseStore

TABLES = """
CREATE TABLE IF NOT EXISTS console_users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS console_tokens (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS console_sessions (
    session_hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS console_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS ticket_followup (
    ticket_id INTEGER PRIMARY KEY,
    owner TEXT,
    status TEXT NOT NULL DEFAULT 'abierto',
    updated_at TEXT NOT NULL,
    closed_at TEXT
);
CREATE TABLE IF NOT EXISTS ticket_notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL,
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS survey_requests (
    case_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS console_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
)
"""


def ensure_tables(store: BaseStore) -> None:
    """Create the console's tables if they are missing (idempotent; safe with several processes)."""
    with store.transaction() as conn:
        store._lock_schema(conn)  # PostgreSQL: one process creates them at a time
        for statement in filter(str.strip, TABLES.split(";")):
            conn.execute(store._ddl(statement))
