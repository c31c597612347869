"""The follow-up queue: tickets the calls opened (low score, unresolved problem, failed transfer), each
with an owner, notes, a status and the hours left of the promised 24 h."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..store import BaseStore
from ..store.base import parse_utc, utc_now

PROMISED_HOURS = 24
STATUSES = ("abierto", "en_proceso", "cerrado")


class TicketError(ValueError):
    """An unknown ticket or status."""


def queue(store: BaseStore, include_closed: bool = False, now: datetime | None = None) -> list[dict[str, Any]]:
    """Open tickets first, the most urgent (fewest hours left) on top."""
    now = now or datetime.now(timezone.utc)
    rows = store.query(
        "SELECT t.id, t.call_id, t.customer_id, t.reason, t.created_at, f.owner, "
        "COALESCE(f.status, 'abierto') AS status, f.closed_at, cu.name AS customer_name, c.phone, c.score "
        "FROM tickets t LEFT JOIN ticket_followup f ON f.ticket_id = t.id "
        "LEFT JOIN customers cu ON cu.customer_id = t.customer_id LEFT JOIN calls c ON c.call_id = t.call_id "
        "ORDER BY t.created_at")
    out = []
    for row in rows:
        if row["status"] == "cerrado" and not include_closed:
            continue
        elapsed_h = (now - parse_utc(row["created_at"])).total_seconds() / 3600
        row["hours_left"] = round(PROMISED_HOURS - elapsed_h, 1)
        row["overdue"] = row["status"] != "cerrado" and row["hours_left"] < 0
        row["notes"] = notes(store, row["id"])
        out.append(row)
    return sorted(out, key=lambda r: (r["status"] == "cerrado", r["hours_left"]))


def notes(store: BaseStore, ticket_id: int) -> list[dict[str, Any]]:
    return store.query("SELECT author, text, at FROM ticket_notes WHERE ticket_id = ? ORDER BY id", (ticket_id,))


def update(store: BaseStore, ticket_id: int, author: str, status: str | None = None, owner: str | None = None,
           note: str | None = None) -> None:
    """Change a ticket's status and owner and/or add a note, in one transaction."""
    if status is not None and status not in STATUSES:
        raise TicketError(f"estado desconocido «{status}»")
    if not store.query("SELECT 1 AS hit FROM tickets WHERE id = ?", (ticket_id,)):
        raise TicketError(f"no existe el ticket {ticket_id}")
    now = utc_now()
    with store.transaction() as conn:
        conn.execute("INSERT INTO ticket_followup (ticket_id, status, updated_at) VALUES (?, 'abierto', ?) "
                     "ON CONFLICT(ticket_id) DO NOTHING", (ticket_id, now))
        if status is not None:
            conn.execute("UPDATE ticket_followup SET status = ?, updated_at = ?, closed_at = ? WHERE ticket_id = ?",
                         (status, now, now if status == "cerrado" else None, ticket_id))
        if owner is not None:
            conn.execute("UPDATE ticket_followup SET owner = ?, updated_at = ? WHERE ticket_id = ?",
                         (owner.strip() or None, now, ticket_id))
        if note and note.strip():
            conn.execute("INSERT INTO ticket_notes (ticket_id, author, text, at) VALUES (?, ?, ?, ?)",
                         (ticket_id, author, note.strip(), now))
