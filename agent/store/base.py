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
from ..privacy.crypto import Keyring, SealedDataError, is_sealed_value, open_value_without_key
from .owner import current_owner

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
    # 3: crash recovery — the process that opened a call or an attempt (see ``store.owner``).
    """
    ALTER TABLE calls ADD COLUMN owner TEXT;
    ALTER TABLE attempts ADD COLUMN owner TEXT;
    CREATE INDEX calls_open ON calls(ended_at);
    """,
    # 4: privacy — scores may be stored encrypted (text; SQLite's INTEGER column already holds text),
    # and every ARCO request (access, rectification, cancellation) is audited.
    """
    ALTER TABLE calls ALTER COLUMN score TYPE TEXT USING score::text;
    CREATE TABLE privacy_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        detail TEXT
    );
    """,
]

_CALL_COLUMNS = {"consent", "score", "resolved", "feedback", "opt_out"}
SEALED_CALL_COLUMNS = {"score", "feedback"}   # encrypted when a key is configured (with answers.value and .text,
                                              # tickets.reason and the webhook outbox's payload)


class StoreError(RuntimeError):
    """The database cannot be used as asked (missing, not a database, read-only, unreachable)."""


class _Rollback(Exception):
    pass


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
    created = False  # True when opening made a new database
    keyring: Keyring | None = None  # set: answers, transcripts, feedback and scores are written encrypted
    _lock: threading.RLock

    def _run(self, sql: str, params: tuple = ()) -> Any:
        raise NotImplementedError

    def _rows(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        """The backend's rows as stored (encrypted values still sealed)."""
        raise NotImplementedError

    def query(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        """Rows as dicts, encrypted values opened with the keyring (``StoreError`` without the key)."""
        return [self.open_row(row) for row in self._rows(sql, params)]

    def open_row(self, row: dict[str, Any]) -> dict[str, Any]:
        """A stored row with its sealed values opened; a score kept as text (PostgreSQL) as a number."""
        for key, value in row.items():
            if is_sealed_value(value):
                try:
                    value = self.keyring.open_value(value) if self.keyring else open_value_without_key(value)
                except SealedDataError as e:
                    raise StoreError(str(e)) from None
            if key == "score" and isinstance(value, str) and value.isdigit():
                value = int(value)
            row[key] = value
        return row

    def seal(self, value: Any) -> Any:
        """``value`` as it is stored: sealed under the keyring when there is one (None and '' stay)."""
        return self.keyring.seal_value(value) if self.keyring and value not in (None, "") else value

    def transaction(self) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _ddl(self, statement: str) -> str | None:
        """``statement`` in this backend's dialect; None: not needed here."""
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
                        ddl = self._ddl(statement)
                        if ddl:
                            conn.execute(ddl)
                    conn.execute("INSERT INTO schema_version VALUES (?)", (current + 1,))

    def check_writable(self) -> None:
        """Raise (the backend's error) unless this process can write to the database: a real write,
        rolled back."""
        try:
            with self.transaction() as conn:
                conn.execute("UPDATE schema_version SET version = version")
                raise _Rollback
        except _Rollback:
            return

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
                   direction: str = "inbound", owner: str | None = None) -> None:
        """Open a call, owned by this process (``owner`` overrides; see ``store.owner``)."""
        self._run("INSERT INTO calls (call_id, customer_id, phone, direction, started_at, owner) "
                  "VALUES (?, ?, ?, ?, ?, ?)",
                  (call_id, customer_id, phone, direction, utc_now(), owner or current_owner()))

    def record_answer(self, call_id: str, question: str, value: Any, text: str = "", via: str = "voice",
                      at_ms: int | None = None) -> None:
        """Commit one answer (and the call's summary column) in a single transaction."""
        statements = [("INSERT INTO answers (call_id, question, value, text, via, at_ms, recorded_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (call_id, question, self.seal(json.dumps(value, ensure_ascii=False)), self.seal(text), via,
                        at_ms, utc_now()))]
        if question in _CALL_COLUMNS:
            column_value = int(value) if isinstance(value, bool) else value
            if question in SEALED_CALL_COLUMNS:
                column_value = self.seal(column_value)
            statements.append((f"UPDATE calls SET {question} = ? WHERE call_id = ?", (column_value, call_id)))
        self._transaction(statements)

    def open_ticket(self, call_id: str, reason: str) -> None:
        self._transaction([
            ("INSERT INTO tickets (call_id, customer_id, reason, created_at) "
             "SELECT call_id, customer_id, ?, ? FROM calls WHERE call_id = ?", (self.seal(reason), utc_now(), call_id)),
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
            self._owe_webhook(conn, call_id)

    def close_abandoned_call(self, call_id: str, outcome: str, ended_at: str, duration_ms: int | None,
                             recording_path: str | None) -> bool:
        """End a call still open (its process died) and owe its webhook, in one transaction. False
        when the call was already ended (by its process, or by another worker recovering it)."""
        with self.transaction() as conn:
            changed = conn.execute("UPDATE calls SET outcome = ?, ended_at = ?, duration_ms = ?, "
                                   "recording_path = COALESCE(?, recording_path) "
                                   "WHERE call_id = ? AND ended_at IS NULL",
                                   (outcome, ended_at, duration_ms, recording_path, call_id)).rowcount
            if changed:
                self._owe_webhook(conn, call_id)
            return bool(changed)

    def _owe_webhook(self, conn: Any, call_id: str) -> None:
        """The call's webhook in the outbox; the payload (score, feedback) is sealed like the call."""
        reader = _OpenedRows(conn, self)
        row = reader.execute("SELECT * FROM calls WHERE call_id = ?", (call_id,)).fetchone()
        if row is None:
            return
        payload = self.seal(json.dumps(self._webhook_payload(reader, row), ensure_ascii=False, sort_keys=True))
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



class _OpenedRows:
    """A transaction's connection whose ``execute(...).fetchone()`` gives rows opened by the store."""

    def __init__(self, conn: Any, store: BaseStore) -> None:
        self.conn, self.store, self._row = conn, store, None

    def execute(self, sql: str, params: tuple = ()) -> "_OpenedRows":
        row = self.conn.execute(sql, params).fetchone()
        self._row = self.store.open_row(dict(row)) if row is not None else None
        return self

    def fetchone(self) -> dict[str, Any] | None:
        return self._row


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
