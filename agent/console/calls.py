"""Calls as the console and the API show them: filtered lists, one call's conversation and timeline
(read from its event log beside the recording, decrypted with the store's key), the recording's
bytes, and the webhook's JSON shape."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..campaign.zones import MEXICO_CITY
from ..labels import label, spanish_reason
from ..privacy.crypto import Keyring
from ..privacy.files import read_call_file, read_event_lines
from ..store import BaseStore
from ..store.base import parse_utc

CONVERSATION_EVENTS = {"Say", "Heard", "Dtmf", "NoInput", "ConfirmAsked", "AnswerCorrected", "BargeIn"}


def mask_phone(phone: str | None) -> str | None:
    """``+525512345678`` → ``+5255••••5678``: enough to tell numbers apart, not to dial one."""
    if not phone or len(phone) < 8:
        return phone and "••••"
    return phone[:5] + "••••" + phone[-4:]


def local_day(started_at: str) -> str:
    return parse_utc(started_at).astimezone(MEXICO_CITY).date().isoformat()


@dataclass(frozen=True)
class CallFilter:
    since: str | None = None      # Mexico City dates, inclusive
    until: str | None = None
    outcome: str | None = None
    score: int | None = None
    topic: str | None = None

    def keeps(self, call: dict[str, Any]) -> bool:
        day = local_day(call["started_at"])
        return ((not self.since or day >= self.since) and (not self.until or day <= self.until)
                and (not self.outcome or call["outcome"] == self.outcome)
                and (self.score is None or call["score"] == self.score)
                and (not self.topic or (call["topic"] or "") == self.topic))


def list_calls(store: BaseStore, where: CallFilter, limit: int = 500) -> list[dict[str, Any]]:
    rows = store.query("SELECT c.*, cu.name AS customer_name, cu.topic AS topic FROM calls c LEFT JOIN customers cu "
                       "ON cu.customer_id = c.customer_id ORDER BY c.started_at DESC")
    out = [r for r in rows if where.keeps(r)][:limit]
    for r in out:
        r["day"] = local_day(r["started_at"])
        r["local_start"] = parse_utc(r["started_at"]).astimezone(MEXICO_CITY).strftime("%Y-%m-%d %H:%M")
    return out


def topics(store: BaseStore) -> list[str]:
    return [r["topic"] for r in store.query("SELECT DISTINCT topic FROM customers WHERE topic IS NOT NULL "
                                            "ORDER BY topic")]


def outcomes(store: BaseStore) -> list[str]:
    return [r["outcome"] for r in store.query("SELECT DISTINCT outcome FROM calls WHERE outcome IS NOT NULL "
                                              "ORDER BY outcome")]


def event_log_path(recording_path: str | None) -> Path | None:
    """Where a call's events are: ``<call>.jsonl`` beside ``<call>.wav`` (SIP agent), or
    ``events.jsonl`` beside ``conversation.wav`` (``encuestador simulate``)."""
    if not recording_path:
        return None
    recording = Path(recording_path)
    for candidate in (recording.with_suffix(".jsonl"), recording.parent / "events.jsonl"):
        if candidate.is_file():
            return candidate
    return None


@dataclass
class CallDetail:
    call: dict[str, Any]
    customer: dict[str, Any] | None
    answers: list[dict[str, Any]]
    turns: list[dict[str, Any]] = field(default_factory=list)      # what was said and heard, in order
    timeline: list[dict[str, Any]] = field(default_factory=list)   # every event, with its time
    tickets: list[dict[str, Any]] = field(default_factory=list)
    events_error: str | None = None

    @property
    def has_recording(self) -> bool:
        path = self.call.get("recording_path")
        return bool(path) and Path(path).is_file()


def _stamp(at_ms: int) -> str:
    seconds = max(0, int(at_ms)) / 1000
    return f"{int(seconds // 60):02d}:{seconds % 60:04.1f}"


def _turn(event: dict[str, Any]) -> dict[str, Any]:
    kind, at = event["event"], _stamp(event.get("at_ms", 0))
    if kind == "Say":
        return {"at": at, "who": "agente", "text": event.get("text", ""), "prompt": event.get("prompt")}
    if kind == "Heard":
        return {"at": at, "who": "cliente", "text": event.get("text", ""), "intent": event.get("intent"),
                "slots": event.get("slots") or {}, "confidence": event.get("confidence"),
                "question": event.get("question"), "confirm": event.get("confirm", False)}
    if kind == "Dtmf":
        return {"at": at, "who": "cliente", "text": f"tecla {event.get('digit')}", "intent": "dtmf"}
    if kind == "NoInput":
        return {"at": at, "who": "silencio", "text": "(sin respuesta)", "question": event.get("question")}
    if kind == "ConfirmAsked":
        return {"at": at, "who": "nota", "text": f"confirmación pedida: {event.get('question')} = "
                                                  f"{json.dumps(event.get('value'), ensure_ascii=False)}"}
    if kind == "AnswerCorrected":
        return {"at": at, "who": "correccion", "text": f"{event.get('question')}: "
                f"{json.dumps(event.get('previous'), ensure_ascii=False)} → "
                f"{json.dumps(event.get('value'), ensure_ascii=False)}"}
    return {"at": at, "who": "nota", "text": f"interrupción ({label('causas_interrupcion', event.get('cause'))})"}


def read_events(path: Path, keyring: Keyring | None = None) -> list[dict[str, Any]]:
    """A call's event log, each encrypted line opened with ``keyring``."""
    return read_event_lines(path, keyring)


def recording_bytes(store: BaseStore, path: str | Path) -> bytes:
    """A call's recording as WAV bytes, decrypted in memory with the store's key."""
    return read_call_file(path, store.keyring)


def call_detail(store: BaseStore, call_id: str) -> CallDetail | None:
    rows = store.query("SELECT * FROM calls WHERE call_id = ?", (call_id,))
    if not rows:
        return None
    call = rows[0]
    call["local_start"] = parse_utc(call["started_at"]).astimezone(MEXICO_CITY).strftime("%Y-%m-%d %H:%M:%S")
    customer = store.query("SELECT * FROM customers WHERE customer_id = ?", (call["customer_id"],)) \
        if call["customer_id"] else []
    answers = store.query("SELECT question, value, text, via, at_ms, recorded_at FROM answers WHERE call_id = ? "
                          "ORDER BY id", (call_id,))
    for a in answers:
        a["value"] = json.loads(a["value"]) if a["value"] is not None else None
    detail = CallDetail(call, customer[0] if customer else None, answers,
                        tickets=store.query("SELECT * FROM tickets WHERE call_id = ? ORDER BY id", (call_id,)))
    log = event_log_path(call.get("recording_path"))
    if log is not None:
        try:
            events = read_events(log, store.keyring)
        except (OSError, ValueError) as e:    # ValueError: also SealedDataError (no key, another key)
            detail.events_error = f"no se pudo leer {log.name}: {spanish_reason(str(e))}"
            events = []
        detail.turns = [_turn(e) for e in events if e.get("event") in CONVERSATION_EVENTS]
        detail.timeline = [{"at": _stamp(e.get("at_ms", 0)), "event": e.get("event"),
                            "detail": {k: v for k, v in e.items() if k not in ("event", "at_ms")}} for e in events]
    return detail


class _ReadOnly:
    """The store's ``query`` behind the ``conn.execute(...).fetchone()`` shape the webhook payload reads."""

    def __init__(self, store: BaseStore) -> None:
        self.store = store

    def execute(self, sql: str, params: tuple = ()) -> "_Rows":
        return _Rows(self.store.query(sql, params))


class _Rows:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def fetchone(self) -> dict[str, Any] | None:
        return self.rows[0] if self.rows else None


def webhook_shape(store: BaseStore, call: dict[str, Any], mask: bool = False) -> dict[str, Any]:
    """A call exactly as the CRM webhook sends it (``agent/report/webhooks.py``)."""
    payload = BaseStore._webhook_payload(_ReadOnly(store), call)
    if mask:
        payload["phone"] = mask_phone(payload["phone"])
    return payload


def finished_since(store: BaseStore, since: str | None, limit: int = 500) -> list[dict[str, Any]]:
    """Finished calls ended at or after ``since`` (UTC ISO 8601), oldest first."""
    if since:
        return store.query("SELECT * FROM calls WHERE ended_at IS NOT NULL AND ended_at >= ? ORDER BY ended_at "
                           "LIMIT ?", (since, limit))
    return store.query("SELECT * FROM calls WHERE ended_at IS NOT NULL ORDER BY ended_at LIMIT ?", (limit,))
