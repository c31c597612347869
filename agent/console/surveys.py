"""``POST /api/v1/surveys``: the CRM asks for a survey call when a case closes.

The request becomes a campaign customer exactly as an import row would (phone in E.164, calling rules
and the do-not-call list applied when the dialer claims the call); ``case_id`` makes it idempotent:
the same case twice is one survey. ``not_before`` is stored as the customer's callback time, so the
dialer waits for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..campaign.phones import PhoneError, normalize_mx
from ..campaign import queue
from ..campaign.rules import CallingRules, Verdict
from ..labels import spanish_reason
from ..store import BaseStore
from ..store.base import utc_now

FIELDS = {"customer_id": 64, "name": 200, "phone": 40, "topic": 200, "case_id": 128, "not_before": 64}
REQUIRED = ("customer_id", "name", "phone")


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str


class SurveyRequestError(ValueError):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class SurveyRequest:
    customer_id: str
    name: str
    phone: str                  # E.164
    topic: str | None
    case_id: str | None
    not_before: datetime | None  # UTC


@dataclass(frozen=True)
class SurveyOutcome:
    created: bool
    request: SurveyRequest
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        r = self.request
        return {"customer_id": r.customer_id, "case_id": r.case_id, "phone": r.phone, "topic": r.topic,
                "not_before": r.not_before.isoformat() if r.not_before else None,
                "status": "created" if self.created else "already_requested",
                "due_now": self.verdict.due, "reason": spanish_reason(self.verdict.reason)}


def parse_instant(text: str) -> datetime:
    """ISO 8601 instant; without an offset it is UTC. ``ValueError`` if it is not one."""
    moment = datetime.fromisoformat(text.strip())
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def validate(body: Any) -> SurveyRequest:
    """The request, or ``SurveyRequestError`` listing every bad field with its reason."""
    if not isinstance(body, dict):
        raise SurveyRequestError([FieldError("body", "se espera un objeto JSON")])
    errors: list[FieldError] = []
    values: dict[str, str | None] = {}
    for name in sorted(set(body) - set(FIELDS)):
        errors.append(FieldError(name, "campo desconocido"))
    for name, max_len in FIELDS.items():
        value = body.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            values[name] = None
            if name in REQUIRED:
                errors.append(FieldError(name, "es obligatorio"))
            continue
        if not isinstance(value, str):
            errors.append(FieldError(name, "debe ser texto"))
            continue
        if len(value) > max_len:
            errors.append(FieldError(name, f"más de {max_len} caracteres"))
            continue
        values[name] = value.strip()
    phone = not_before = None
    if values.get("phone"):
        try:
            phone = normalize_mx(values["phone"])
        except PhoneError as e:
            errors.append(FieldError("phone", spanish_reason(str(e))))
    if values.get("not_before"):
        try:
            not_before = parse_instant(values["not_before"])
        except ValueError:
            errors.append(FieldError("not_before", "no es un instante ISO 8601 (p. ej. 2026-07-15T10:30-06:00)"))
    if errors:
        raise SurveyRequestError(errors)
    return SurveyRequest(values["customer_id"], values["name"], phone, values.get("topic"),  # type: ignore[arg-type]
                         values.get("case_id"), not_before)


def verdict_now(store: BaseStore, rules: CallingRules, customer_id: str, now: datetime) -> Verdict:
    """What the dialer would decide for this customer now (the queue's own verdict, as a claim checks it)."""
    customer = store.query("SELECT * FROM customers WHERE customer_id = ?", (customer_id,))[0]
    complete = bool(store.query(queue.COMPLETE_SURVEYS + " AND customer_id = ?", (customer_id,)))
    return queue._verdict(rules, customer, queue._attempts(store, customer_id), store.is_dnc(customer["phone"]),
                          now, complete)


def request_survey(store: BaseStore, rules: CallingRules, request: SurveyRequest, requested_by: str,
                   now: datetime | None = None) -> SurveyOutcome:
    """Store the survey request (once per ``case_id``) and say whether the customer is due now."""
    now = now or datetime.now(timezone.utc)
    if request.case_id:
        earlier = store.query("SELECT customer_id FROM survey_requests WHERE case_id = ?", (request.case_id,))
        if earlier:
            return _already(store, rules, request, earlier[0]["customer_id"], now)
    store.upsert_customer(request.customer_id, request.name, request.phone, request.topic)
    if request.not_before is not None:
        store.execute("UPDATE customers SET callback_at = ? WHERE customer_id = ?",
                      (request.not_before.isoformat(timespec="seconds"), request.customer_id))
    if request.case_id:
        inserted = store.execute("INSERT INTO survey_requests (case_id, customer_id, requested_by, created_at) "
                                 "VALUES (?, ?, ?, ?) ON CONFLICT(case_id) DO NOTHING",
                                 (request.case_id, request.customer_id, requested_by, utc_now()))
        if not inserted:  # the same case arrived twice at once: the first one made it
            earlier = store.query("SELECT customer_id FROM survey_requests WHERE case_id = ?", (request.case_id,))
            return _already(store, rules, request, earlier[0]["customer_id"], now)
    return SurveyOutcome(True, request, verdict_now(store, rules, request.customer_id, now))


def _already(store: BaseStore, rules: CallingRules, request: SurveyRequest, customer_id: str,
             now: datetime) -> SurveyOutcome:
    if customer_id != request.customer_id:
        raise SurveyRequestError([FieldError("case_id", f"ya se pidió para el cliente {customer_id}")])
    return SurveyOutcome(False, request, verdict_now(store, rules, customer_id, now))
