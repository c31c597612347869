"""The campaign queue in the store: who is due, claiming an attempt, recording how it ended.

A call is dialled only after its attempt row is committed inside a write transaction that re-checks
the calling rules (``claim``); the database allows one open attempt per customer. A dialer that dies
leaves open attempts behind; ``recover_interrupted`` closes those of dead processes as ``interrupted``
(an attempt that counts: the customer may have been reached), so a restart never dials anyone twice.
A customer with a complete survey (a call holding a score and the 'resolved' answer) is never due
again, whatever that call's outcome (``interrupted``, ``rtp_timeout``, …).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..store import BaseStore
from ..store.base import parse_utc
from ..store.owner import current_owner, owner_alive
from .phones import area_code
from .rules import Attempt, CallingRules, Verdict
from .zones import zone_name


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Candidate:
    customer_id: str
    name: str | None
    phone: str
    verdict: Verdict
    attempts: int

    def to_dict(self) -> dict[str, Any]:
        return {"customer_id": self.customer_id, "name": self.name, "phone": self.phone,
                "zone": zone_name(self.phone), "local_time": self.verdict.local_time.isoformat(timespec="minutes"),
                "due": self.verdict.due, "preferred_slot": self.verdict.preferred, "reason": self.verdict.reason,
                "attempts": self.attempts}


def _attempts(conn_or_store, customer_id: str) -> list[Attempt]:
    sql = "SELECT started_at, outcome, ended_at FROM attempts WHERE customer_id = ? ORDER BY started_at"
    rows = conn_or_store.query(sql, (customer_id,)) if isinstance(conn_or_store, BaseStore) else \
        [dict(r) for r in conn_or_store.execute(sql, (customer_id,)).fetchall()]
    return [Attempt(parse_utc(r["started_at"]), r["outcome"] if r["ended_at"] else None) for r in rows]


COMPLETE_SURVEYS = "SELECT DISTINCT customer_id FROM calls WHERE score IS NOT NULL AND resolved IS NOT NULL"


def _survey_complete(conn, customer_id: str) -> bool:
    return conn.execute(COMPLETE_SURVEYS.replace("DISTINCT customer_id", "1 AS hit") + " AND customer_id = ?",
                        (customer_id,)).fetchone() is not None


def _verdict(rules: CallingRules, row: dict[str, Any], attempts: list[Attempt], dnc: bool, now: datetime,
             complete: bool = False) -> Verdict:
    return rules.verdict(row["phone"], now, attempts, dnc=dnc, callback_at=parse_utc(row.get("callback_at")),
                         survey_complete=complete)


def candidates(store: BaseStore, rules: CallingRules, now: datetime) -> list[Candidate]:
    """Every campaign customer with the verdict at ``now``: due ones first (preferred slots first,
    then fewer attempts), then the rest."""
    dnc = {r["phone"] for r in store.query("SELECT phone FROM dnc")}
    complete = {r["customer_id"] for r in store.query(COMPLETE_SURVEYS)}
    out = []
    for row in store.query("SELECT * FROM customers WHERE phone LIKE '+52%' ORDER BY customer_id"):
        attempts = _attempts(store, row["customer_id"])
        verdict = _verdict(rules, row, attempts, row["phone"] in dnc, now, row["customer_id"] in complete)
        out.append(Candidate(row["customer_id"], row["name"], row["phone"], verdict, len(attempts)))
    return sorted(out, key=lambda c: (not c.verdict.due, not c.verdict.preferred, c.attempts, c.customer_id))


def claim(store: BaseStore, rules: CallingRules, customer_id: str, now: datetime, caller_id: str | None) -> int | None:
    """Open an attempt if the rules allow dialling this customer now; returns its id, else None."""
    with store.transaction() as conn:
        row = conn.execute("SELECT * FROM customers WHERE customer_id = ?" + store.row_lock, (customer_id,)).fetchone()
        if row is None:
            return None
        row = dict(row)
        dnc = conn.execute("SELECT 1 AS hit FROM dnc WHERE phone = ?", (row["phone"],)).fetchone() is not None
        complete = _survey_complete(conn, customer_id)
        if not _verdict(rules, row, _attempts(conn, customer_id), dnc, now, complete).due:
            return None
        inserted = conn.execute("INSERT INTO attempts (customer_id, phone, caller_id, started_at, owner) "
                                "VALUES (?, ?, ?, ?, ?) RETURNING id",
                                (customer_id, row["phone"], caller_id, iso(now), current_owner())).fetchone()
        conn.execute("UPDATE customers SET callback_at = NULL WHERE customer_id = ?", (customer_id,))
        return int(inserted["id"])


def finish(store: BaseStore, rules: CallingRules, attempt_id: int, outcome: str, now: datetime,
           call_id: str | None = None, callback_slots: dict[str, Any] | None = None) -> None:
    """Close an attempt; a requested callback is scheduled inside the calling window."""
    with store.transaction() as conn:
        row = conn.execute("SELECT customer_id, phone FROM attempts WHERE id = ?", (attempt_id,)).fetchone()
        if row is None:
            raise KeyError(f"no attempt {attempt_id}")
        conn.execute("UPDATE attempts SET outcome = ?, ended_at = ?, call_id = COALESCE(?, call_id) WHERE id = ?",
                     (outcome, iso(now), call_id, attempt_id))
        if outcome == "callback_later":
            when = rules.callback_time(row["phone"], now, callback_slots or {})
            conn.execute("UPDATE customers SET callback_at = ? WHERE customer_id = ?", (iso(when), row["customer_id"]))


def recover_interrupted(store: BaseStore, now: datetime, stale_after_s: float | None = None) -> int:
    """Close attempts left open by a dialer that died; returns how many. Attempts of a live dialer
    stay open; those of a dialer that cannot be checked (another host) only after ``stale_after_s``;
    those opened before owners were stored are closed."""
    closed = 0
    for row in store.query("SELECT id, owner, started_at FROM attempts WHERE ended_at IS NULL"):
        alive = owner_alive(row["owner"]) if row["owner"] else False
        if alive is None:
            age = (now - parse_utc(row["started_at"])).total_seconds()
            alive = stale_after_s is None or age <= stale_after_s
        if not alive:
            closed += store.execute("UPDATE attempts SET outcome = 'interrupted', ended_at = ? "
                                    "WHERE id = ? AND ended_at IS NULL", (iso(now), row["id"]))
    return closed


def caller_id_for(phone: str, pool: list[str]) -> str | None:
    """Local presence: a pool number with the customer's area code, else one in the same time zone,
    else the first."""
    if not pool:
        return None
    same_area = [n for n in pool if area_code(n) == area_code(phone)]
    if same_area:
        return same_area[0]
    same_zone = [n for n in pool if zone_name(n) == zone_name(phone)]
    return (same_zone or pool)[0]
