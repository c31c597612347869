"""The Spanish labels (``prompts/es_MX/labels.yaml``) of the store's codes, and the Spanish text of the
reasons shared code gives in English (``motivos:``), for the console and the API."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from .prompts_data import load_yaml


def texts() -> dict[str, Any]:
    return load_yaml("labels.yaml")


def label(group: str, code: Any) -> str:
    """The Spanish label of ``code`` in ``group`` (``resultados``, ``roles``…), else the code itself."""
    if code is None:
        return "—"
    entry = texts().get(group, {}).get(str(code), code)
    return entry["nombre"] if isinstance(entry, dict) else str(entry)


def spanish_date(day: date) -> str:
    """``2026-12-25`` → ``25 de diciembre de 2026``."""
    return f"{day.day} de {texts()['meses'][day.month - 1]} de {day.year}"


def _spanish_value(group: str, value: str | None) -> str:
    """A matched group as the Spanish text shows it (see the ``motivos:`` header in labels.yaml)."""
    if value is None:
        return ""
    if group == "motivo":
        return spanish_reason(value)
    if group == "fecha":
        return spanish_date(date.fromisoformat(value))
    if group == "fecha_hora":
        moment = datetime.strptime(value, "%Y-%m-%d %H:%M")
        return f"{spanish_date(moment.date())} a las {moment:%H:%M}"
    if isinstance(texts().get(group), dict):
        return label(group, value)
    return value


def spanish_reason(text: str) -> str:
    """The Spanish text of an English reason (a bad import row, a calling rule, a ticket…) from the
    first ``motivos:`` pattern matching all of it; any other text (or none) comes back unchanged."""
    if not text:
        return text
    for entry in texts().get("motivos", []):
        found = re.fullmatch(entry["patron"], text)
        if found:
            return entry["texto"].format(**{k: _spanish_value(k, v) for k, v in found.groupdict().items()})
    return text
