"""Reading the calling rules an operator writes (``calling_rules:`` in the config, and the defaults in
``prompts/es_MX/calling_rules.yaml``): times "HH:MM", day names, slots, numbers — each bad value one
message, all collected (``RuleReader.errors``) so they are reported together at start-up."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from ..settings import describe, unknown_keys

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


RULE_KEYS = ("days", "start", "end", "skip_federal_holidays", "closed_dates", "preferred", "retry_after_hours",
             "max_attempts_per_day", "max_attempts", "retry_outcomes", "callback_hours",
             "callback_default_delay_hours")


def parse_hhmm(text: str) -> time:
    """``"08:30"`` → 08:30; ``ValueError`` for anything else (``"8"``, ``"25:00"``, a number)."""
    if isinstance(text, int) and not isinstance(text, bool):   # YAML 1.1 reads 10:00 unquoted as 600
        raise ValueError(f"write the time in quotes: \"{text // 60:02d}:{text % 60:02d}\" (unquoted, YAML read it "
                         f"as the number {text})")
    if not isinstance(text, str) or not re.fullmatch(r"\d{1,2}:\d{2}", text.strip()):
        raise ValueError(f"expected a time \"HH:MM\" in quotes, got {describe(text)}")
    hours, minutes = text.strip().split(":")
    if int(hours) > 23 or int(minutes) > 59:
        raise ValueError(f"no such time {text!r} (00:00 to 23:59)")
    return time(int(hours), int(minutes))


def parse_days(names: list[str]) -> frozenset[int]:
    if not isinstance(names, list) or not names:
        raise ValueError(f"expected a list of days such as [mon, tue], got {describe(names)}")
    unknown = [n for n in names if n not in DAY_NAMES]
    if unknown:
        raise ValueError(f"unknown day names {unknown}; use {', '.join(DAY_NAMES)}")
    return frozenset(DAY_NAMES.index(n) for n in names)


@dataclass(frozen=True)
class Slot:
    days: frozenset[int]
    start: time
    end: time

    def contains(self, local: datetime) -> bool:
        return local.weekday() in self.days and self.start <= local.time() < self.end


class RuleReader:
    """Reads each rule with its default, adding one message to ``errors`` per bad value."""

    def __init__(self, data: dict[str, Any], errors: list[str]) -> None:
        self.data, self.errors = data, errors

    def _fail(self, key: str, problem: str) -> None:
        self.errors.append(f"{key}: {problem}")

    def slot(self, item: dict[str, Any], where: str) -> Slot:
        fallback = Slot(frozenset(range(6)), time(8), time(18))
        try:
            days = parse_days(item.get("days"))
        except ValueError as e:
            self._fail(f"{where}days", str(e))
            days = fallback.days
        bounds = []
        for key, default in (("start", fallback.start), ("end", fallback.end)):
            try:
                bounds.append(parse_hhmm(item.get(key)))
            except ValueError as e:
                self._fail(f"{where}{key}", str(e))
                bounds.append(default)
        if bounds[0] >= bounds[1] and not any(e.startswith((f"{where}start", f"{where}end")) for e in self.errors):
            self._fail(f"{where}end", f"{bounds[1]:%H:%M} is not after start {bounds[0]:%H:%M}")
        return Slot(days, bounds[0], bounds[1])

    def slots(self, key: str) -> list[Slot]:
        value = self.data.get(key) or []
        if not isinstance(value, list):
            self._fail(key, f"expected a list of {{days, start, end}}, got {describe(value)}")
            return []
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self._fail(f"{key}[{i}]", f"expected {{days, start, end}}, got {describe(item)}")
                continue
            self.errors.extend(unknown_keys(item, ("days", "start", "end"), f"{key}[{i}]."))
            out.append(self.slot(item, f"{key}[{i}]."))
        return out

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self._fail(key, f"expected true or false, got {describe(value)}")
            return default
        return value

    def number(self, key: str, default: float, minimum: float, whole: bool = False) -> float:
        value = self.data.get(key, default)
        kinds = (int,) if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum:
            self._fail(key, f"expected {'a whole number' if whole else 'a number'} ≥ {minimum:g}, got {describe(value)}")
            return default
        return value

    def dates(self, key: str) -> list[date]:
        value = self.data.get(key) or []
        if not isinstance(value, list):
            self._fail(key, f"expected a list of dates such as [\"2027-06-06\"], got {describe(value)}")
            return []
        out = []
        for item in value:
            try:
                out.append(item if isinstance(item, date) else date.fromisoformat(str(item)))
            except ValueError:
                self._fail(key, f"not a date (YYYY-MM-DD): {item!r}")
        return out

    def words(self, key: str) -> list[str]:
        value = self.data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self._fail(key, f"expected a list of outcome names, got {describe(value)}")
            return []
        return value

    def hours(self, key: str) -> dict[str, int]:
        value = self.data.get(key) or {}
        if not isinstance(value, dict):
            self._fail(key, f"expected {{morning: 10, afternoon: 16, evening: 17}}, got {describe(value)}")
            return {}
        out = {}
        for part, hour in value.items():
            if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
                self._fail(f"{key}.{part}", f"expected an hour 0–23, got {describe(hour)}")
            else:
                out[str(part)] = hour
        return out
