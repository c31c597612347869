"""Campaign KPIs from the store, with their definitions (the report prints these next to the numbers).

Counted per customer (a customer dialled three times is one customer) except the voicemail rate,
which is per call. Days are Mexico City dates of the call's start.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..campaign.zones import MEXICO_CITY
from ..store import BaseStore
from ..store.base import parse_utc

# A person who is the customer answered (whatever they said next).
CONTACT_OUTCOMES = {"completed", "declined", "opt_out", "transferred", "transfer_failed", "callback_later",
                    "hung_up", "max_duration"}

DEFINITIONS = {
    "contact_rate": ("customers reached in person at least once / customers called", 0.65),
    "completion_rate": ("customers who gave a score and answered 'resolved' / customers called", 0.40),
    "csat_average": ("mean score 1–5 over customers who gave one", 4.2),
    "csat_top2_share": ("share of scores that are 4 or 5", None),
    "resolution_rate": ("'resolved: yes' / customers who answered whether their problem was resolved "
                        "(second-contact resolution: this survey is the contact after the service)", 0.50),
    "opt_out_rate": ("customers who asked not to be called again / customers reached", None),
    "voicemail_rate": ("calls that reached voicemail / calls placed", None),
}


@dataclass
class Kpis:
    customers_called: int = 0
    calls: int = 0
    contacted: int = 0
    completed: int = 0
    scores: list[int] = field(default_factory=list)
    resolved_yes: int = 0
    resolved_answered: int = 0
    opt_outs: int = 0
    voicemails: int = 0

    @staticmethod
    def _ratio(a: float, b: float) -> float | None:
        return round(a / b, 4) if b else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "customers_called": self.customers_called, "calls": self.calls,
            "contact_rate": self._ratio(self.contacted, self.customers_called),
            "completion_rate": self._ratio(self.completed, self.customers_called),
            "csat_average": round(sum(self.scores) / len(self.scores), 2) if self.scores else None,
            "csat_top2_share": self._ratio(sum(1 for s in self.scores if s >= 4), len(self.scores)),
            "resolution_rate": self._ratio(self.resolved_yes, self.resolved_answered),
            "opt_out_rate": self._ratio(self.opt_outs, self.contacted),
            "voicemail_rate": self._ratio(self.voicemails, self.calls),
        }


def _reached(call: dict[str, Any]) -> bool:
    """A person answered: an outcome that says so, or any answer stored (an ``interrupted`` call that
    crashed after the customer spoke counts)."""
    return call["outcome"] in CONTACT_OUTCOMES or any(call[k] is not None for k in ("consent", "score", "resolved"))


def _day(started_at: str) -> str:
    return parse_utc(started_at).astimezone(MEXICO_CITY).date().isoformat()


def _summarise(calls: list[dict[str, Any]]) -> Kpis:
    kpis = Kpis(calls=len(calls))
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in calls:
        by_customer[call["customer_id"] or call["phone"] or call["call_id"]].append(call)
        kpis.voicemails += call["outcome"] == "voicemail"
    kpis.customers_called = len(by_customer)
    for customer_calls in by_customer.values():
        reached = [c for c in customer_calls if _reached(c)]
        kpis.contacted += bool(reached)
        kpis.opt_outs += any(c["opt_out"] for c in customer_calls)
        scored = [c for c in customer_calls if c["score"] is not None]
        if scored:
            last = scored[-1]
            kpis.scores.append(int(last["score"]))
            if last["resolved"] is not None:
                kpis.completed += 1
        answered = [c for c in customer_calls if c["resolved"] is not None]
        if answered:
            kpis.resolved_answered += 1
            kpis.resolved_yes += bool(answered[-1]["resolved"])
    return kpis


def compute(store: BaseStore, since: str | None = None, until: str | None = None) -> dict[str, Any]:
    """KPIs overall, by day and by topic (``since``/``until``: Mexico City dates, inclusive)."""
    calls = store.query("SELECT c.*, cu.topic AS topic FROM calls c LEFT JOIN customers cu "
                        "ON cu.customer_id = c.customer_id WHERE c.ended_at IS NOT NULL ORDER BY c.started_at")
    for call in calls:
        call["day"] = _day(call["started_at"])
    calls = [c for c in calls if (not since or c["day"] >= since) and (not until or c["day"] <= until)]
    by_day: dict[str, list] = defaultdict(list)
    by_topic: dict[str, list] = defaultdict(list)
    for call in calls:
        by_day[call["day"]].append(call)
        by_topic[call["topic"] or "(sin tema)"].append(call)
    ids = {c["call_id"] for c in calls}
    analyses = [json.loads(r["value"]) for r in store.query(
        "SELECT call_id, value FROM answers WHERE question = 'feedback_analysis' AND value IS NOT NULL")
        if r["call_id"] in ids]
    return {
        "overall": _summarise(calls).to_dict(),
        "feedback": {"answers": len(analyses),
                     "topics": dict(Counter(t for a in analyses for t in a.get("topics", [])).most_common()),
                     "sentiment": dict(Counter(a.get("sentiment", "neutral") for a in analyses))},
        "by_day": {day: _summarise(c).to_dict() for day, c in sorted(by_day.items())},
        "by_topic": {topic: _summarise(c).to_dict() for topic, c in sorted(by_topic.items())},
        "definitions": {k: {"definition": d, "target": t} for k, (d, t) in DEFINITIONS.items()},
        "calls": calls,
    }
