"""What every store does, whatever the database: schema migrations, customers, calls, answers,
tickets, the do-not-call list and the webhook outbox. Every answer is its own committed transaction.

A backend (``sqlite.Store``, ``postgres.PostgresStore``) supplies the connection: ``_run`` (one
statement, autocommitted), ``query`` (rows as dicts), ``transaction`` (a connection-like object with
``execute``) and ``_ddl`` (dialect fixes to the migrations). SQL here uses ``?`` placeholders.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from typing import Any

from ..events import AnswerRecorded, Event, TicketOpened, Transfer

MIGRATIONS: list[str] = [
    """
    CREATE TABLE customers (
        customer_id TEXT PRIMARY KEY,
        name TEXT,
        phone TEXT,
        topic TEXT,
        last_contact TEXT,
        notes TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX customers_phone ON customers(phone);
    CREATE TABLE calls (
        call_id TEXT PRIMARY KEY,
        customer_id TEXT,
        phone TEXT,
        direction TEXT NOT NULL DEFAULT 'inbound',
        started_at TEXT NOT NULL,
        ended_at TEXT,
        outcome TEXT,
        consent INTEGER,
        score INTEGER,
        resolved INTEGER,
        feedback TEXT,
        opt_out INTEGER NOT NULL DEFAULT 0,
        transferred INTEGER NOT NULL DEFAULT 0,
        ticket INTEGER NOT NULL DEFAULT 0,
        duration_ms INTEGER,
        recording_path TEXT
    );
    CREATE INDEX calls_customer ON calls(customer_id);
    CREATE TABLE answers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id TEXT NOT NULL REFERENCES calls(call_id),
        question TEXT NOT NULL,
        value TEXT,
        text TEXT,
        via TEXT,
        at_ms INTEGER,
        recorded_at TEXT NOT NULL
    );
    CREATE INDEX answers_call ON answers(call_id);
    CREATE TABLE tickets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id TEXT NOT NULL,
        customer_id TEXT,
        reason TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE dnc (
        phone TEXT PRIMARY KEY,
        source TEXT,
        reason TEXT,
        added_at TEXT NOT NULL
    );
    """,
    # 2: campaigns — dialling attempts, requested callbacks, the CRM outbox, the purge audit.
    """
    ALTER TABLE customers ADD COLUMN callback_at TEXT;
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        customer_id TEXT NOT NULL,
        phone TEXT NOT NULL,
        call_id TEXT,
        caller_id TEXT,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        outcome TEXT
    );
    CREATE INDEX attempts_customer ON attempts(customer_id);
    CREATE UNIQUE INDEX attempts_one_open ON attempts(customer_id) WHERE ended_at IS NULL;
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        idempotency_key TEXT NOT NULL UNIQUE,
        call_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        tries INTEGER NOT NULL DEFAULT 0,
        next_try_at TEXT NOT NULL,
        delivered_at TEXT,
        last_error TEXT
    );
    CREATE TABLE purge_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id TEXT,
        kind TEXT NOT NULL,
        detail TEXT,
        purged_at TEXT NOT NULL
    );
    """,
]

_CALL_COLUMNS = {"consent", "score", "resolved", "feedback", "opt_out"}


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def parse_utc(text: str | None) -> datetime | None:
    """A stored instant (ISO 8601 text; one without an offset is UTC) as an aware datetime."""
    if not text:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class BaseStore:
    row_lock = ""  # appended to a SELECT that must lock the rows it reads until the transaction ends
    _lock: threading.RLock

    def _run(self, sql: str, params: tuple = ()) -> Any:
        raise NotImplementedError

    def query(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        raise NotImplementedError

    def transaction(self) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _ddl(self, statement: str) -> str:
        return statement

    def _lock_schema(self, conn: Any) -> None:
        """Inside a migration's transaction: keep other processes from migrating at the same time
        (SQLite's ``BEGIN IMMEDIATE`` already does; PostgreSQL takes an advisory lock)."""

    def _migrate(self) -> None:
        """Apply the migrations not applied yet, one transaction each. The version is read inside
        the transaction, under the lock, so workers starting together on a new database apply each
        migration once."""
        with self._lock:
            while True:
                with self.transaction() as conn:
                    self._lock_schema(conn)
                    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                    current = conn.execute("SELECT MAX(version) AS v FROM schema_version").fetchone()["v"] or 0
                    if current >= len(MIGRATIONS):
                        return
                    for statement in filter(str.strip, MIGRATIONS[current].split(";")):
                        conn.execute(self._ddl(statement))
                    conn.execute("INSERT INTO schema_version VALUES (?)", (current + 1,))

    def execute(self, sql: str, params: tuple = ()) -> int:
        """One statement in its own transaction; returns the rows changed."""
        return self._run(sql, params).rowcount

    def _transaction(self, statements: list[tuple[str, tuple]]) -> None:
        with self.transaction() as conn:
            for sql, params in statements:
                conn.execute(sql, params)

    # -- customers -----------------------------------------------------------------------------
    def upsert_customer(self, customer_id: str, name: str | None, phone: str | None,
                        topic: str | None = None, last_contact: str | None = None, notes: str | None = None) -> None:
        self._run(
            """INSERT INTO customers (customer_id, name, phone, topic, last_contact, notes, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(customer_id) DO UPDATE SET name=excluded.name, phone=excluded.phone,
               topic=excluded.topic, last_contact=excluded.last_contact, notes=excluded.notes""",
            (customer_id, name, phone, topic, last_contact, notes, utc_now()),
        )

    def find_customer(self, customer_id: str | None = None, phone: str | None = None) -> dict[str, Any] | None:
        if customer_id:
            rows = self.query("SELECT * FROM customers WHERE customer_id = ?", (customer_id,))
            if rows:
                return rows[0]
        if phone:
            digits = "".join(ch for ch in phone if ch.isdigit())
            if len(digits) < 10:
                return None
            rows = self.query("SELECT * FROM customers WHERE phone = ?", ("+52" + digits[-10:],))  # E.164: indexed
            if rows:
                return rows[0]
            for row in self.query("SELECT * FROM customers WHERE phone IS NOT NULL"):  # numbers stored as given
                stored = "".join(ch for ch in row["phone"] if ch.isdigit())
                if stored and stored.endswith(digits[-10:]):
                    return row
        return None

    # -- calls and answers -------------------------------------------------------------------------
    def start_call(self, call_id: str, customer_id: str | None, phone: str | None,
                   direction: str = "inbound") -> None:
        self._run("INSERT INTO calls (call_id, customer_id, phone, direction, started_at) VALUES (?, ?, ?, ?, ?)",
                    (call_id, customer_id, phone, direction, utc_now()))

    def record_answer(self, call_id: str, question: str, value: Any, text: str = "", via: str = "voice",
                      at_ms: int | None = None) -> None:
        """Commit one answer (and the call's summary column) in a single transaction."""
        statements = [("INSERT INTO answers (call_id, question, value, text, via, at_ms, recorded_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (call_id, question, json.dumps(value, ensure_ascii=False), text, via, at_ms, utc_now()))]
        if question in _CALL_COLUMNS:
            column_value = int(value) if isinstance(value, bool) else value
            statements.append((f"UPDATE calls SET {question} = ? WHERE call_id = ?", (column_value, call_id)))
        self._transaction(statements)

    def open_ticket(self, call_id: str, reason: str) -> None:
        self._transaction([
            ("INSERT INTO tickets (call_id, customer_id, reason, created_at) "
             "SELECT call_id, customer_id, ?, ? FROM calls WHERE call_id = ?", (reason, utc_now(), call_id)),
            ("UPDATE calls SET ticket = 1 WHERE call_id = ?", (call_id,)),
        ])

    def mark_transferred(self, call_id: str, transferred: bool = True) -> None:
        self._run("UPDATE calls SET transferred = ? WHERE call_id = ?", (int(transferred), call_id))

    def finish_call(self, call_id: str, outcome: str, duration_ms: int | None = None,
                    recording_path: str | None = None) -> None:
        """End the call and, in the same transaction, owe its webhook (the outbox row)."""
        with self.transaction() as conn:
            conn.execute("UPDATE calls SET outcome = ?, ended_at = ?, duration_ms = ?, "
                         "recording_path = COALESCE(?, recording_path) WHERE call_id = ?",
                         (outcome, utc_now(), duration_ms, recording_path, call_id))
            row = conn.execute("SELECT * FROM calls WHERE call_id = ?", (call_id,)).fetchone()
            if row is None:
                return
            payload = json.dumps(self._webhook_payload(conn, dict(row)), ensure_ascii=False, sort_keys=True)
            conn.execute("INSERT INTO outbox (idempotency_key, call_id, payload, created_at, next_try_at) "
                         "VALUES (?, ?, ?, ?, ?) ON CONFLICT(idempotency_key) DO UPDATE SET payload = excluded.payload "
                         "WHERE outbox.delivered_at IS NULL",
                         (f"call-{call_id}", call_id, payload, utc_now(), utc_now()))

    @staticmethod
    def _webhook_payload(conn: Any, call: dict[str, Any]) -> dict[str, Any]:
        customer = conn.execute("SELECT customer_id, name, topic FROM customers WHERE customer_id = ?",
                                (call["customer_id"],)).fetchone()
        flag = lambda v: None if v is None else bool(v)  # noqa: E731
        analysis = conn.execute("SELECT value FROM answers WHERE call_id = ? AND question = 'feedback_analysis' "
                                "ORDER BY id DESC", (call["call_id"],)).fetchone()
        return {"event": "call.finished", "call_id": call["call_id"], "direction": call["direction"],
                "customer": dict(customer) if customer else {"customer_id": call["customer_id"]},
                "phone": call["phone"], "started_at": call["started_at"], "ended_at": call["ended_at"],
                "duration_ms": call["duration_ms"], "outcome": call["outcome"],
                "answers": {"consent": flag(call["consent"]), "score": call["score"], "resolved": flag(call["resolved"]),
                            "feedback": call["feedback"], "opt_out": bool(call["opt_out"]),
                            "feedback_analysis": json.loads(analysis["value"]) if analysis and analysis["value"] else None},
                "transferred": bool(call["transferred"]), "ticket": bool(call["ticket"])}

    def calls(self) -> list[dict[str, Any]]:
        rows = self.query("SELECT * FROM calls ORDER BY started_at")
        for row in rows:
            row["answers"] = self.query("SELECT question, value, text, via, at_ms FROM answers WHERE call_id = ? "
                                        "ORDER BY id", (row["call_id"],))
            for a in row["answers"]:
                a["value"] = json.loads(a["value"]) if a["value"] is not None else None
        return rows

    def call(self, call_id: str) -> dict[str, Any] | None:
        return next((c for c in self.calls() if c["call_id"] == call_id), None)

    # -- do not call ---------------------------------------------------------------------------
    def add_dnc(self, phone: str, source: str, reason: str = "") -> None:
        self._run("INSERT INTO dnc (phone, source, reason, added_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(phone) DO NOTHING", (phone, source, reason, utc_now()))

    def is_dnc(self, phone: str) -> bool:
        return bool(self.query("SELECT 1 AS hit FROM dnc WHERE phone = ?", (phone,)))



class StoreSink:
    """Writes a call's events to the store as they happen (answers before the next prompt plays)."""

    def __init__(self, store: BaseStore, call_id: str, phone: str | None) -> None:
        self.store, self.call_id, self.phone = store, call_id, phone

    def handle(self, event: Event) -> None:
        if isinstance(event, AnswerRecorded):
            self.store.record_answer(self.call_id, event.question, event.value, event.text, event.via, event.at_ms)
            if event.question == "opt_out" and event.value and self.phone:
                self.store.add_dnc(self.phone, "call", f"opt-out heard in call {self.call_id}")
        elif isinstance(event, TicketOpened):
            self.store.open_ticket(self.call_id, event.reason)
        elif isinstance(event, Transfer):
            self.store.mark_transferred(self.call_id)

    def finish(self, outcome: str, duration_ms: int, recording_path: str | None) -> None:
        self.store.finish_call(self.call_id, outcome, duration_ms, recording_path)
