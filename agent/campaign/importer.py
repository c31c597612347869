"""Campaign import from CSV or JSON: each bad row is reported with its line and reason, the rest import.

Required: ``customer_id,name,phone``; optional: ``topic,last_contact,notes``. Phones are stored in
E.164. Importing the same file again updates the same customers (idempotent).

What an operator's spreadsheet export can hold: UTF-8 (with or without BOM) or UTF-16 is read as is;
a file that is not UTF-8 is read as Windows-1252 (Excel's "CSV" in Mexico, a superset of Latin-1) and
a notice says so; a binary file (Excel .xlsx, PDF, anything with many control bytes) is refused with
one message. Control characters (NUL, escapes…) are stripped from every field, with a notice per
line. A customer_id repeated in one file: the FIRST row is kept, each later one is rejected with its
line and the line of the one kept.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterator

from ..store import BaseStore
from .phones import PhoneError, normalize_mx

REQUIRED = ("customer_id", "name", "phone")
OPTIONAL = ("topic", "last_contact", "notes")


BINARY_MAGIC = {b"PK\x03\x04": "a ZIP/Excel .xlsx file", b"\xd0\xcf\x11\xe0": "an Excel .xls file",
                b"%PDF": "a PDF file", b"\x1f\x8b": "a gzip file", b"SQLite format 3": "an SQLite database"}
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
LEGACY_ENCODING = "cp1252"


class ImportFileError(ValueError):
    """The file as a whole cannot be read (missing columns, not CSV/JSON, binary)."""


@dataclass
class ImportReport:
    imported: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)   # (line, reason)
    notices: list[str] = field(default_factory=list)              # what was read differently from the file

    def to_dict(self) -> dict[str, Any]:
        return {"imported": self.imported, "errors": [{"line": n, "reason": r} for n, r in self.errors],
                "notices": self.notices}


def read_text(path: Path, notices: list[str]) -> str:
    """The file's text: UTF-8/UTF-16 by BOM, else UTF-8, else Windows-1252 (noted in ``notices``).
    ``ImportFileError`` for a binary file."""
    data = path.read_bytes()
    for magic, kind in BINARY_MAGIC.items():
        if data.startswith(magic):
            raise ImportFileError(f"{path}: this is {kind}, not CSV or JSON (save it as \"CSV UTF-8\")")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    sample = data[:4096]
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 13))
    if sample and controls > max(4, len(sample) // 100):
        first = next(i for i, b in enumerate(data) if b < 32 and b not in (9, 10, 13))
        line = data.count(b"\n", 0, first) + 1
        raise ImportFileError(f"{path}: binary data, not CSV or JSON (control byte 0x{data[first]:02x} at "
                              f"byte {first}, line {line})")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        notices.append(f"{path} is not UTF-8 (first at line {line}); read as Windows-1252/Latin-1 — "
                       f"check accented names")
        return data.decode(LEGACY_ENCODING, errors="replace")


def _strip_controls(values: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The values without control characters, and the names of the fields that had some."""
    dirty = [k for k, v in values.items() if CONTROL.search(v)]
    return {k: CONTROL.sub("", v) for k, v in values.items()}, dirty


def _rows(path: Path, notices: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    text = read_text(path, notices)
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
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [CONTROL.sub("", h).strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportFileError(f"{path}: missing required column(s) {', '.join(missing)} (header: {','.join(header)})")
    reader.fieldnames = header
    for row in reader:
        yield reader.line_num, row


def _clean(row: dict[str, Any], line: int, notices: list[str]) -> dict[str, str | None]:
    if "__invalid__" in row:
        raise ValueError("not an object")
    extra = row.get(None)
    if extra:
        raise ValueError(f"{len(extra)} more field(s) than the header has")
    values, dirty = _strip_controls({k: (str(v) if v is not None else "") for k, v in row.items()
                                     if k in REQUIRED + OPTIONAL})
    if dirty:
        notices.append(f"line {line}: control characters removed from {', '.join(dirty)}")
    values = {k: v.strip() for k, v in values.items()}
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
    first_line: dict[str, int] = {}
    for line, raw in _rows(path, report.notices):
        try:
            row = _clean(raw, line, report.notices)
        except (ValueError, PhoneError) as e:
            report.errors.append((line, str(e)))
            continue
        customer_id = row["customer_id"] or ""
        if customer_id in first_line:
            report.errors.append((line, f"duplicate customer_id {customer_id!r} (line {first_line[customer_id]} "
                                        f"kept)"))
            continue
        first_line[customer_id] = line
        store.upsert_customer(row["customer_id"], row["name"], row["phone"], row["topic"], row["last_contact"],
                              row["notes"])
        report.imported += 1
    return report


def import_dnc(path: str | Path, store: BaseStore, source: str = "import") -> ImportReport:
    """One number per line, or a CSV whose first field is the number (a REPEP extract, for instance);
    blank lines and lines starting with # are skipped."""
    report = ImportReport()
    for line, text in enumerate(read_text(Path(path), report.notices).splitlines(), start=1):
        field_ = CONTROL.sub("", text.split(",")[0]).strip().strip('"')
        if not field_ or field_.startswith("#") or (line == 1 and not any(ch.isdigit() for ch in field_)):
            continue
        try:
            store.add_dnc(normalize_mx(field_), source)
            report.imported += 1
        except PhoneError as e:
            report.errors.append((line, str(e)))
    return report
