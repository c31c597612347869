"""The console's audit log: who listened to, exported or changed what, and when."""

from __future__ import annotations

import json
from typing import Any

from ..store import BaseStore
from ..store.base import utc_now


def record(store: BaseStore, actor: str, action: str, target: str | None = None, **detail: Any) -> None:
    store.execute("INSERT INTO console_audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                  (utc_now(), actor, action, target, json.dumps(detail, ensure_ascii=False) if detail else None))


def recent(store: BaseStore, limit: int = 200, action: str | None = None) -> list[dict[str, Any]]:
    if action:
        return store.query("SELECT * FROM console_audit WHERE action = ? ORDER BY id DESC LIMIT ?", (action, limit))
    return store.query("SELECT * FROM console_audit ORDER BY id DESC LIMIT ?", (limit,))
