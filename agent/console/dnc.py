"""The do-not-call list as the console and the API change it: numbers normalised to E.164, every
change audited."""

from __future__ import annotations

from typing import Any

import tempfile
from pathlib import Path

from ..campaign.importer import ImportReport, import_dnc
from ..campaign.phones import normalize_mx
from ..store import BaseStore
from . import audit


def search(store: BaseStore, text: str = "", limit: int = 200) -> list[dict[str, Any]]:
    digits = "".join(ch for ch in text if ch.isdigit())
    if digits:
        return store.query("SELECT * FROM dnc WHERE phone LIKE ? ORDER BY added_at DESC LIMIT ?",
                           (f"%{digits}%", limit))
    return store.query("SELECT * FROM dnc ORDER BY added_at DESC LIMIT ?", (limit,))


def add(store: BaseStore, phone: str, reason: str, actor: str, source: str = "console") -> tuple[str, bool]:
    """Put a number on the list: (its E.164 form, whether it is new). ``PhoneError`` if it is not one."""
    number = normalize_mx(phone)
    new = not store.is_dnc(number)
    store.add_dnc(number, source, reason)
    audit.record(store, actor, "dnc_add", number, reason=reason, new=new)
    return number, new


def remove(store: BaseStore, phone: str, reason: str, actor: str) -> tuple[str, bool]:
    """Take a number off the list: (its E.164 form, whether it was there)."""
    number = normalize_mx(phone)
    removed = store.execute("DELETE FROM dnc WHERE phone = ?", (number,)) > 0
    audit.record(store, actor, "dnc_remove", number, reason=reason, removed=removed)
    return number, removed


def import_upload(store: BaseStore, content: bytes, actor: str, source: str = "import") -> ImportReport:
    """An uploaded list imported exactly as ``encuestador dnc import`` does; audited once."""
    with tempfile.TemporaryDirectory(prefix="encuestador-dnc-") as folder:
        path = Path(folder) / "no_llamar.csv"
        path.write_bytes(content)
        report = import_dnc(path, store, source=source)
    audit.record(store, actor, "dnc_import", source, imported=report.imported, rejected=len(report.errors))
    return report
