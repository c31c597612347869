"""ARCO requests (LFPDPPP): what is held about a person (access), correcting it (rectification),
deleting it (cancellation). Every request is written to ``privacy_audit``: who, when, what.

A person is named by a customer id or a phone number; both find the customer row(s) and every call
made to or from those numbers. Deleting keeps anonymous counts: the person's customer id becomes a
random pseudonym (shared by all of his calls, so per-customer KPIs count him once, as before), the
scores, yes/no answers, outcomes and the case topic stay; names, numbers, notes, transcripts,
feedback text, ticket notes, recordings and event logs go. The number stays on the do-not-call list
only when it is on it (the person asked not to be called), with a neutral reason.
"""

from __future__ import annotations

import getpass
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..store import BaseStore
from ..store.base import utc_now
from .files import read_call_file, read_event_lines, write_private

CORRECTABLE = ("name", "phone", "topic", "notes", "last_contact")   # customers' columns ``privacy correct`` may set


class ArcoError(ValueError):
    """A request that cannot be carried out (nobody found, nothing to correct)."""


@dataclass
class Subject:
    """Whom a request is about, as found in the store."""

    asked: str                                              # "customer C-7" / "phone +52…" as requested
    customer_ids: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    call_ids: list[str] = field(default_factory=list)


@dataclass
class ArcoResult:
    subject: Subject
    action: str
    detail: dict[str, Any] = field(default_factory=dict)


def actor_name(given: str | None) -> str:
    return given or getpass.getuser()


def _digits10(phone: str | None) -> str:
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return digits[-10:]


def find_subject(store: BaseStore, customer_id: str | None = None, phone: str | None = None) -> Subject:
    """The customers and calls of a person; ``ArcoError`` when nothing is held about him."""
    if bool(customer_id) == bool(phone):
        raise ArcoError("give exactly one of --customer ID or --phone N")
    if phone and len(_digits10(phone)) < 10:
        raise ArcoError(f"--phone {phone!r}: expected a 10-digit Mexican number")
    from ..console.calls import mask_phone

    subject = Subject(f"customer {customer_id}" if customer_id else f"phone {mask_phone('+52' + _digits10(phone))}")
    customers = store.query("SELECT customer_id, phone FROM customers")
    if customer_id:
        found = [c for c in customers if c["customer_id"] == customer_id]
    else:
        found = [c for c in customers if c["phone"] and _digits10(c["phone"]) == _digits10(phone)]
    subject.customer_ids = [c["customer_id"] for c in found]
    wanted = {_digits10(p) for p in [phone, *(c["phone"] for c in found)] if p}
    calls = store.query("SELECT call_id, customer_id, phone FROM calls ORDER BY started_at")
    ids = set(subject.customer_ids) | ({customer_id} if customer_id else set())   # calls may name one not imported
    subject.call_ids = [c["call_id"] for c in calls
                        if c["customer_id"] in ids or (c["phone"] and _digits10(c["phone"]) in wanted)]
    numbers = {c["phone"] for c in calls if c["call_id"] in subject.call_ids and c["phone"]}
    numbers |= {c["phone"] for c in found if c["phone"]}
    subject.phones = sorted(numbers)
    if not subject.customer_ids and not subject.call_ids:
        raise ArcoError(f"nothing is held about {subject.asked}")
    return subject


def _in(column: str, values: list[str]) -> tuple[str, tuple]:
    if not values:
        return "1 = 0", ()
    return f"{column} IN ({', '.join('?' for _ in values)})", tuple(values)


def _has_table(store: BaseStore, table: str) -> bool:
    try:
        store.query(f"SELECT 1 AS hit FROM {table} WHERE 1 = 0")
        return True
    except Exception:  # noqa: BLE001 — the console's tables exist only where the console ran
        return False


def audit(store: BaseStore, actor: str, action: str, subject: str, detail: dict[str, Any]) -> None:
    store.execute("INSERT INTO privacy_audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
                  (utc_now(), actor, action, subject, json.dumps(detail, ensure_ascii=False, sort_keys=True)))


# -- access --------------------------------------------------------------------------------------
def held_data(store: BaseStore, subject: Subject) -> dict[str, Any]:
    """Everything held about the person, decrypted, as one JSON-ready mapping."""
    customers_where = _in("customer_id", subject.customer_ids)
    calls_where = _in("call_id", subject.call_ids)
    phones_where = _in("phone", subject.phones)
    data: dict[str, Any] = {
        "request": subject.asked, "exported_at": utc_now(),
        "customers": store.query(f"SELECT * FROM customers WHERE {customers_where[0]}", customers_where[1]),
        "calls": store.query(f"SELECT * FROM calls WHERE {calls_where[0]} ORDER BY started_at", calls_where[1]),
        "answer_history": store.query(f"SELECT * FROM answers WHERE {_in('call_id', subject.call_ids)[0]} ORDER BY id",
                                      calls_where[1]),
        "tickets": store.query(f"SELECT * FROM tickets WHERE {calls_where[0]} ORDER BY id", calls_where[1]),
        "attempts": store.query(f"SELECT * FROM attempts WHERE {customers_where[0]} ORDER BY id", customers_where[1]),
        "do_not_call": store.query(f"SELECT * FROM dnc WHERE {phones_where[0]}", phones_where[1]),
    }
    for answer in data["answer_history"]:
        answer["value"] = json.loads(answer["value"]) if answer["value"] is not None else None
    if _has_table(store, "ticket_notes") and data["tickets"]:
        ids = [str(t["id"]) for t in data["tickets"]]
        data["ticket_notes"] = store.query(f"SELECT * FROM ticket_notes WHERE CAST(ticket_id AS TEXT) IN "
                                           f"({', '.join('?' for _ in ids)}) ORDER BY id", tuple(ids))
    return data


def export_bundle(store: BaseStore, subject: Subject) -> dict[str, bytes]:
    """The access answer as files (relative name → bytes): ``datos.json``, each call's recording as
    ``grabaciones/<call>.wav`` and its event log as ``eventos/<call>.jsonl``, all decrypted."""
    from ..console.calls import event_log_path

    data = held_data(store, subject)
    files: dict[str, bytes] = {}
    for call in data["calls"]:
        recording = call.get("recording_path")
        if recording and Path(recording).is_file():
            files[f"grabaciones/{call['call_id']}.wav"] = read_call_file(recording, store.keyring)
        log = event_log_path(recording)
        if log is not None:
            lines = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in read_event_lines(log, store.keyring))
            files[f"eventos/{call['call_id']}.jsonl"] = lines.encode("utf-8")
    data["files"] = sorted(files)
    files["datos.json"] = (json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n").encode("utf-8")
    return files


def export(store: BaseStore, subject: Subject, out_dir: Path, actor: str) -> ArcoResult:
    """The access answer (``export_bundle``) written under ``out_dir`` (0600 files), audited."""
    files = export_bundle(store, subject)
    for name, content in files.items():
        write_private(out_dir / name, content)
    return audit_export(store, subject, files, actor)


def audit_export(store: BaseStore, subject: Subject, files: dict[str, bytes], actor: str) -> ArcoResult:
    data = json.loads(files["datos.json"])
    detail = {"calls": len(data["calls"]), "answers": len(data["answer_history"]), "files": len(data["files"])}
    audit(store, actor, "export", subject.asked, detail)
    return ArcoResult(subject, "export", detail)


# -- rectification --------------------------------------------------------------------------------
def correct(store: BaseStore, subject: Subject, changes: dict[str, str], actor: str) -> ArcoResult:
    """Set customers' fields (``CORRECTABLE``); the audit names the fields, not the values."""
    changes = {k: v for k, v in changes.items() if v is not None}
    unknown = [k for k in changes if k not in CORRECTABLE]
    if unknown or not changes:
        raise ArcoError(f"nothing to correct: give one or more of {', '.join('--' + c for c in CORRECTABLE)}")
    if not subject.customer_ids:
        raise ArcoError(f"{subject.asked} has calls but no customer record to correct")
    assignments = ", ".join(f"{k} = ?" for k in changes)
    where, ids = _in("customer_id", subject.customer_ids)
    with store.transaction() as conn:
        conn.execute(f"UPDATE customers SET {assignments} WHERE {where}", tuple(changes.values()) + ids)
        if "phone" in changes:
            calls_where, call_ids = _in("call_id", subject.call_ids)
            conn.execute(f"UPDATE calls SET phone = ? WHERE {calls_where}", (changes["phone"],) + call_ids)
    detail = {"fields": sorted(changes), "customers": len(subject.customer_ids)}
    audit(store, actor, "correct", subject.asked, detail)
    return ArcoResult(subject, "correct", detail)


# -- cancellation ---------------------------------------------------------------------------------
def _remove_call_files(recording_path: str | None) -> list[str]:
    """The recording, its event log and (``simulate``'s) result.json beside it."""
    from ..console.calls import event_log_path

    if not recording_path:
        return []
    recording = Path(recording_path)
    doomed = [recording, event_log_path(recording_path)]
    if recording.name == "conversation.wav":
        doomed.append(recording.parent / "result.json")
    removed = []
    for path in doomed:
        if path is not None and path.is_file():
            path.unlink()
            removed.append(str(path))
    return removed


def delete(store: BaseStore, subject: Subject, actor: str) -> ArcoResult:
    """Remove the person's personal data, keeping anonymous counts (see the module's docstring)."""
    calls_where, call_ids = _in("call_id", subject.call_ids)
    customers_where, customer_ids = _in("customer_id", subject.customer_ids)
    calls = store.query(f"SELECT call_id, customer_id, phone, recording_path FROM calls WHERE {calls_where}", call_ids)
    # one pseudonym per customer the KPIs counted (customer id, else number, else the call): counts unchanged
    pseudonyms: dict[str, str] = {}
    alias = lambda key: pseudonyms.setdefault(key, f"anon-{secrets.token_hex(6)}")  # noqa: E731
    topics = {c["customer_id"]: c["topic"]
              for c in store.query(f"SELECT customer_id, topic FROM customers WHERE {customers_where}", customer_ids)}
    on_dnc = store.query(f"SELECT phone FROM dnc WHERE {_in('phone', subject.phones)[0]}", tuple(subject.phones))
    removed_files = [f for c in calls for f in _remove_call_files(c["recording_path"])]
    tickets = [str(t["id"]) for t in store.query(f"SELECT id FROM tickets WHERE {calls_where}", call_ids)]
    with store.transaction() as conn:
        conn.execute(f"UPDATE answers SET text = NULL WHERE {calls_where}", call_ids)
        conn.execute(f"UPDATE answers SET value = NULL WHERE question = 'feedback' AND {calls_where}", call_ids)
        conn.execute(f"DELETE FROM outbox WHERE {calls_where}", call_ids)
        conn.execute(f"DELETE FROM customers WHERE {customers_where}", customer_ids)
        for customer_id, topic in topics.items():    # an anonymous customer keeps the report's split by topic
            conn.execute("INSERT INTO customers (customer_id, topic, created_at) VALUES (?, ?, ?)",
                         (alias(customer_id), topic, utc_now()))
            conn.execute("UPDATE attempts SET customer_id = ?, phone = '', caller_id = NULL WHERE customer_id = ?",
                         (alias(customer_id), customer_id))
        for call in calls:
            pseudonym = alias(call["customer_id"] or call["phone"] or call["call_id"])
            conn.execute("UPDATE calls SET customer_id = ?, phone = NULL, feedback = NULL, recording_path = NULL "
                         "WHERE call_id = ?", (pseudonym, call["call_id"]))
            conn.execute("UPDATE tickets SET customer_id = ?, reason = NULL WHERE call_id = ?",
                         (pseudonym, call["call_id"]))
        for row in on_dnc:                           # on the list: he asked not to be called; that stays
            conn.execute("UPDATE dnc SET reason = ?, source = ? WHERE phone = ?",
                         ("pidió no ser llamado (datos cancelados por ARCO)", "arco", row["phone"]))
    if tickets and _has_table(store, "ticket_notes"):
        store.execute(f"DELETE FROM ticket_notes WHERE CAST(ticket_id AS TEXT) IN ({', '.join('?' for _ in tickets)})",
                      tuple(tickets))
    if _has_table(store, "survey_requests"):
        for customer_id in subject.customer_ids:
            store.execute("UPDATE survey_requests SET customer_id = ? WHERE customer_id = ?",
                          (alias(customer_id), customer_id))
    detail = {"calls": len(calls), "files_removed": len(removed_files), "kept_on_dnc": len(on_dnc),
              "pseudonyms": sorted(pseudonyms.values())}
    audit(store, actor, "delete", subject.asked, detail)
    return ArcoResult(subject, "delete", detail)
