"""The Campañas page's data: progress of the campaign, CSV uploads and the dialer's pause switch."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..campaign.importer import ImportReport, import_customers
from ..campaign.queue import candidates
from ..campaign.rules import CallingRules
from ..report.kpis import CONTACT_OUTCOMES
from ..store import BaseStore

PAUSE_KEY = "dialer_paused"


@dataclass(frozen=True)
class Progress:
    customers: int
    due: int
    dialled: int       # customers with at least one attempt
    attempts: int
    reached: int       # attempts where the customer answered in person
    completed: int
    voicemail: int
    no_answer: int
    in_progress: int
    paused: bool


def progress(store: BaseStore, rules: CallingRules, now: datetime | None = None) -> Progress:
    now = now or datetime.now(timezone.utc)
    listed = candidates(store, rules, now)
    rows = store.query("SELECT customer_id, outcome, ended_at FROM attempts")
    outcomes = [r["outcome"] for r in rows if r["ended_at"]]
    return Progress(
        customers=len(listed), due=sum(c.verdict.due for c in listed),
        dialled=len({r["customer_id"] for r in rows}), attempts=len(rows),
        reached=sum(o in CONTACT_OUTCOMES for o in outcomes), completed=outcomes.count("completed"),
        voicemail=outcomes.count("voicemail"), no_answer=outcomes.count("no_answer"),
        in_progress=sum(1 for r in rows if not r["ended_at"]), paused=is_paused(store))


def import_upload(store: BaseStore, filename: str, content: bytes) -> ImportReport:
    """Import an uploaded CSV/JSON exactly as ``campaign import`` does (bad rows listed by line)."""
    suffix = ".json" if filename.lower().endswith(".json") else ".csv"
    with tempfile.TemporaryDirectory(prefix="encuestador-upload-") as folder:
        path = Path(folder) / f"clientes{suffix}"
        path.write_bytes(content)
        return import_customers(path, store)


def is_paused(store: BaseStore) -> bool:
    rows = store.query("SELECT value FROM console_settings WHERE key = ?", (PAUSE_KEY,))
    return bool(rows) and rows[0]["value"] == "1"


def set_paused(store: BaseStore, paused: bool) -> None:
    store.execute("INSERT INTO console_settings (key, value) VALUES (?, ?) "
                  "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (PAUSE_KEY, "1" if paused else "0"))


class PauseSwitch:
    """The console's pause switch as the dialer reads it: from the store, at most once per ``interval_s``
    (a supervisor's «Pausar» stops new dials within a second; live calls go on)."""

    def __init__(self, store: BaseStore, interval_s: float = 1.0) -> None:
        from .schema import ensure_tables

        ensure_tables(store)
        self.store, self.interval_s = store, interval_s
        self._paused, self._read_at = False, float("-inf")

    def paused(self) -> bool:
        import time

        now = time.monotonic()
        if now - self._read_at >= self.interval_s:
            self._paused, self._read_at = is_paused(self.store), now
        return self._paused
