"""Campaign import from CSV or JSON: each bad row is reported with its line and reason, the rest import.

Required: ``customer_id,name,phone``; optional: ``topic,last_contact,notes``. Phones are stored in
E.164. Importing the same file again updates the same customers (idempotent).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterator

from ..store import BaseStore
from .phones import PhoneError, normalize_mx

REQUIRED = ("customer_id", "name", "phone")
OPTIONAL = ("topic", "last_contact", "notes")


class ImportFileError(ValueError):
    """The file as a whole cannot be read (missing columns, not CSV/JSON)."""


@dataclass
class ImportReport:
    imported: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)   # (line, reason)

    def to_dict(self) -> dict[str, Any]:
        return {"imported": self.imported, "errors": [{"line": n, "reason": r} for n, r in self.errors]}


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ImportFileError(f"{path}: not valid JSON ({e})") from e
        if not isinstance(data, list):
            raise ImportFileError(f"{path}: expected a JSON list of customers")
        for index, item in enumerate(data, start=1):
            yield index, item if isinstance(item, dict) else {"__invalid__": item}
        return
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportFileError(f"{path}: missing required column(s) {', '.join(missing)} (header: {','.join(header)})")
    reader.fieldnames = header
    for row in reader:
        yield reader.line_num, row


def _clean(row: dict[str, Any]) -> dict[str, str | None]:
    if "__invalid__" in row:
        raise ValueError("not an object")
    extra = row.get(None)
    if extra:
        raise ValueError(f"{len(extra)} more field(s) than the header has")
    values = {k: (str(v).strip() if v is not None else "") for k, v in row.items() if k in REQUIRED + OPTIONAL}
    for column in REQUIRED:
        if not values.get(column):
            raise ValueError(f"missing {column}")
    values["phone"] = normalize_mx(values["phone"] or "")
    contact = values.get("last_contact")
    if contact:
        try:
            (datetime if "T" in contact or " " in contact else date).fromisoformat(contact)
        except ValueError:
            raise ValueError(f"last_contact {contact!r} is not an ISO date (YYYY-MM-DD)") from None
    return {k: (values.get(k) or None) for k in REQUIRED + OPTIONAL}


def import_customers(path: str | Path, store: BaseStore) -> ImportReport:
    path = Path(path)
    report = ImportReport()
    for line, raw in _rows(path):
        try:
            row = _clean(raw)
        except (ValueError, PhoneError) as e:
            report.errors.append((line, str(e)))
            continue
        store.upsert_customer(row["customer_id"], row["name"], row["phone"], row["topic"], row["last_contact"],
                              row["notes"])
        report.imported += 1
    return report


def import_dnc(path: str | Path, store: BaseStore, source: str = "import") -> ImportReport:
    """One number per line, or a CSV whose first field is the number (a REPEP extract, for instance);
    blank lines and lines starting with # are skipped."""
    report = ImportReport()
    for line, text in enumerate(Path(path).read_text(encoding="utf-8-sig").splitlines(), start=1):
        field_ = text.split(",")[0].strip().strip('"')
        if not field_ or field_.startswith("#") or (line == 1 and not any(ch.isdigit() for ch in field_)):
            continue
        try:
            store.add_dnc(normalize_mx(field_), source)
            report.imported += 1
        except PhoneError as e:
            report.errors.append((line, str(e)))
    return report
