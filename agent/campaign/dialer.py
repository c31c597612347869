"""The campaign dialer: places due calls through a transport, with a concurrency limit and pacing.

Transport-agnostic: ``place(request)`` starts a call (the SIP agent's ``place_call``) and the
transport reports the end with ``ended``. Every dial is preceded by ``queue.claim`` (the rules are
re-checked at that instant, inside the transaction that records the attempt), and the attempt is
closed by ``ended`` (or as ``interrupted`` by ``recover_interrupted`` after a crash).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from ..store import BaseStore
from . import queue
from .rules import CallingRules


@dataclass(frozen=True)
class DialRequest:
    attempt_id: int
    customer_id: str
    phone: str
    caller_id: str | None


@dataclass
class DialerStats:
    dialled: int = 0
    finished: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    due: int = 0
    live: int = 0


class Dialer:
    def __init__(self, store: BaseStore, rules: CallingRules, place: Callable[[DialRequest], None],
                 concurrency: int = 2, pace_s: float = 1.0, caller_ids: list[str] | None = None,
                 clock: Callable[[], datetime] | None = None, refresh_s: float = 30.0) -> None:
        self.store, self.rules, self.place = store, rules, place
        self.concurrency, self.pace_s, self.refresh_s = concurrency, pace_s, refresh_s
        self.caller_ids = list(caller_ids or [])
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.live: dict[int, DialRequest] = {}
        self.stats = DialerStats()
        self._due: list[str] = []
        self._refreshed_at = float("-inf")
        self._last_dial = float("-inf")
        from ..console.campaign import PauseSwitch
        self._pause = PauseSwitch(store)  # the console's «Pausar»: no new dials while it is on

    def _refresh(self) -> None:
        dialling = {r.customer_id for r in self.live.values()}
        self._due = [c.customer_id for c in queue.candidates(self.store, self.rules, self.clock())
                     if c.verdict.due and c.customer_id not in dialling]
        self._refreshed_at = time.monotonic()
        self.stats.due = len(self._due)

    def tick(self) -> None:
        """Dial one more call if a line is free, the pace allows it and someone is due."""
        self.stats.live = len(self.live)
        if self._pause.paused():
            return
        if len(self.live) >= self.concurrency or time.monotonic() - self._last_dial < self.pace_s:
            return
        if not self._due and time.monotonic() - self._refreshed_at >= min(self.refresh_s, 2.0 if self.live else self.refresh_s):
            self._refresh()
        while self._due:
            customer_id = self._due.pop(0)
            self.stats.due = len(self._due)
            phone = self.store.find_customer(customer_id)["phone"]
            caller_id = queue.caller_id_for(phone, self.caller_ids)
            attempt = queue.claim(self.store, self.rules, customer_id, self.clock(), caller_id)
            if attempt is None:
                continue  # no longer due at this instant (window closed, opted out meanwhile, …)
            request = DialRequest(attempt, customer_id, phone, caller_id)
            self.live[attempt] = request
            self._last_dial = time.monotonic()
            self.stats.dialled += 1
            self.stats.live = len(self.live)
            self.place(request)
            return

    def ended(self, request: DialRequest, call_id: str | None, outcome: str,
              callback_slots: dict[str, Any] | None = None) -> None:
        queue.finish(self.store, self.rules, request.attempt_id, outcome, self.clock(), call_id, callback_slots)
        self.live.pop(request.attempt_id, None)
        self.stats.finished += 1
        self.stats.outcomes[outcome] = self.stats.outcomes.get(outcome, 0) + 1
        self.stats.live = len(self.live)

    def idle(self) -> bool:
        """Nothing live and nobody due right now (after a fresh look at the store)."""
        if self.live or self._due:
            return False
        self._refresh()
        return not self._due


def progress_line(stats: DialerStats, width: int = 24) -> str:
    total = stats.dialled + stats.due
    done = stats.finished
    filled = int(width * done / total) if total else width
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(stats.outcomes.items()))
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} done, {stats.live} live" + \
        (f" — {outcomes}" if outcomes else "")
