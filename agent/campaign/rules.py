"""Mexican calling rules, checked at the instant of dialling: window, holidays, retries, callbacks.

``CallingRules.verdict`` answers "may this customer be dialled now, and if not, why?" from what the
store knows (attempts so far, a requested callback, the do-not-call list). The dialer asks it again
inside the transaction that claims the attempt, so a plan made earlier never dials outside the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..prompts_data import prompts_dir
from ..settings import SettingsError, read_yaml_mapping, unknown_keys
from .rules_settings import DAY_NAMES, RULE_KEYS, RuleReader, Slot, parse_days
from .holidays import federal_holidays
from .zones import zone_for

@dataclass(frozen=True)
class Attempt:
    started_at: datetime          # UTC
    outcome: str | None           # None while the call is in progress


@dataclass(frozen=True)
class Verdict:
    due: bool
    reason: str
    local_time: datetime
    preferred: bool = False


@dataclass
class CallingRules:
    window: Slot = field(default_factory=lambda: Slot(parse_days(list(DAY_NAMES[:6])), time(8), time(18)))
    skip_federal_holidays: bool = True
    closed_dates: frozenset[date] = frozenset()
    preferred: tuple[Slot, ...] = ()
    retry_after: timedelta = timedelta(hours=24)
    max_attempts_per_day: int = 1
    max_attempts: int = 3
    retry_outcomes: frozenset[str] = frozenset({"no_answer", "busy", "voicemail", "failed"})
    callback_hours: dict[str, int] = field(default_factory=lambda: {"morning": 10, "afternoon": 16, "evening": 17})
    callback_default_delay: timedelta = timedelta(hours=2)

    @classmethod
    def load(cls, overrides: dict[str, Any] | None = None, path: str | Path | None = None) -> "CallingRules":
        """The defaults in ``prompts/es_MX/calling_rules.yaml`` (or ``path``) with ``overrides``.
        Raises ``SettingsError`` with one message per bad rule (``key: what is wrong``)."""
        source = Path(path) if path else prompts_dir() / "calling_rules.yaml"
        data = read_yaml_mapping(source)
        data.update(overrides or {})
        errors = unknown_keys(data, RULE_KEYS, "")
        parsed = RuleReader(data, errors)
        rules = cls(
            window=parsed.slot(data, ""),
            skip_federal_holidays=parsed.flag("skip_federal_holidays", True),
            closed_dates=frozenset(parsed.dates("closed_dates")),
            preferred=tuple(parsed.slots("preferred")),
            retry_after=timedelta(hours=parsed.number("retry_after_hours", 24, minimum=0)),
            max_attempts_per_day=int(parsed.number("max_attempts_per_day", 1, minimum=1, whole=True)),
            max_attempts=int(parsed.number("max_attempts", 3, minimum=1, whole=True)),
            retry_outcomes=frozenset(parsed.words("retry_outcomes")),
            callback_hours=parsed.hours("callback_hours"),
            callback_default_delay=timedelta(hours=parsed.number("callback_default_delay_hours", 2, minimum=0)),
        )
        if errors:
            raise SettingsError(errors)
        return rules

    # -- the calendar --------------------------------------------------------------------------
    def closed_reason(self, local: datetime) -> str | None:
        """Why no call may start at this local time, or None when the window is open."""
        day = local.date()
        if day in self.closed_dates:
            return f"closed date {day.isoformat()}"
        if self.skip_federal_holidays:
            holiday = federal_holidays(day.year).get(day)
            if holiday:
                return f"federal holiday ({holiday})"
        if local.weekday() not in self.window.days:
            return f"no calls on {DAY_NAMES[local.weekday()]}"
        if not self.window.start <= local.time() < self.window.end:
            return (f"outside calling hours (local {local:%H:%M}, window "
                    f"{self.window.start:%H:%M}–{self.window.end:%H:%M})")
        return None

    def next_open(self, local: datetime) -> datetime:
        """The first instant at or after ``local`` (aware, customer's zone) when a call may start."""
        zone = local.tzinfo
        candidate = local
        for _ in range(60):
            if self.closed_reason(candidate) is None:
                return candidate
            day = candidate.date()
            opening = datetime.combine(day, self.window.start, zone)
            candidate = opening if candidate < opening else datetime.combine(day + timedelta(days=1), self.window.start, zone)
        raise ValueError("the calling window never opens in the next 60 days; check the calling rules")

    # -- the decision --------------------------------------------------------------------------
    def verdict(self, phone: str, now: datetime, attempts: list[Attempt], dnc: bool = False,
                callback_at: datetime | None = None, survey_complete: bool = False) -> Verdict:
        """Whether ``phone`` may be dialled at ``now`` (UTC), given its attempts so far, and why not.
        ``survey_complete``: a call of this customer holds every answer (whatever its outcome)."""
        zone = zone_for(phone)
        local = now.astimezone(zone)
        if dnc:
            return Verdict(False, "on the do-not-call list", local)
        if survey_complete:
            return Verdict(False, "survey complete (score and resolution answered)", local)
        if any(a.outcome is None for a in attempts):
            return Verdict(False, "a call to this customer is in progress", local)
        final = next((a.outcome for a in reversed(attempts)
                      if a.outcome and a.outcome not in self.retry_outcomes and a.outcome != "callback_later"), None)
        if final:
            return Verdict(False, f"survey finished (outcome {final})", local)
        if len(attempts) >= self.max_attempts:
            return Verdict(False, f"all {self.max_attempts} attempts used", local)
        if callback_at is not None:
            # The customer asked for this time: it replaces the retry delay and the daily limit.
            if now < callback_at:
                return Verdict(False, f"callback requested for {callback_at.astimezone(zone):%Y-%m-%d %H:%M} local",
                               local)
        else:
            today = [a for a in attempts if a.started_at.astimezone(zone).date() == local.date()]
            if len(today) >= self.max_attempts_per_day:
                return Verdict(False, f"already called today ({len(today)} of {self.max_attempts_per_day} a day)",
                               local)
        last = max(attempts, key=lambda a: a.started_at, default=None)
        if callback_at is None and last is not None and now < last.started_at + self.retry_after:
            retry = (last.started_at + self.retry_after).astimezone(zone)
            return Verdict(False, f"retry not before {retry:%Y-%m-%d %H:%M} local", local)
        closed = self.closed_reason(local)
        if closed:
            return Verdict(False, closed, local)
        return Verdict(True, "due", local, any(slot.contains(local) for slot in self.preferred))

    def callback_time(self, phone: str, now: datetime, slots: dict[str, Any]) -> datetime:
        """When to call back a customer who asked for it (``slots`` from the parser), inside the window (UTC)."""
        zone: ZoneInfo = zone_for(phone)  # type: ignore[assignment]
        local = now.astimezone(zone)
        day = local.date() + timedelta(days=1 if slots.get("day") == "tomorrow" else 0)
        hour = slots.get("at_hour") or slots.get("after_hour") or self.callback_hours.get(str(slots.get("day_part")))
        if hour is not None:
            wanted = datetime.combine(day, time(min(int(hour), 23)), zone)
            if wanted <= local:
                wanted += timedelta(days=1)
        else:
            wanted = (local + self.callback_default_delay) if day == local.date() else \
                datetime.combine(day, self.window.start, zone)
        return self.next_open(wanted).astimezone(timezone.utc)
