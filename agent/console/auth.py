"""Who may do what (roles → permissions), login sessions with their CSRF token, and the login rate limit."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ..store import BaseStore
from ..store.base import parse_utc, utc_now
from .accounts import Principal, user

EVERYONE = frozenset({"admin", "supervisor", "analyst"})
OPERATIONS = frozenset({"admin", "supervisor"})
PERMISSIONS: dict[str, frozenset[str]] = {
    "kpis": EVERYONE,            # Resumen, CSV export
    "calls": EVERYONE,           # call list and pages (analysts: masked numbers, no recordings)
    "listen": OPERATIONS,        # recordings
    "full_phone": OPERATIONS,    # unmasked phone numbers
    "tickets": OPERATIONS,
    "campaigns": OPERATIONS,     # upload, pause, resume
    "dnc": OPERATIONS,
    "surveys": OPERATIONS,       # API: ask for a survey
    "users": frozenset({"admin"}),
    "privacy": frozenset({"admin"}),  # ARCO requests: export, correct, delete a person's data
}

SESSION_COOKIE = "encuestador_sesion"
LOGIN_CSRF_COOKIE = "encuestador_csrf"
SESSION_HOURS = 12


def allowed(principal: Principal | None, permission: str) -> bool:
    return principal is not None and principal.role in PERMISSIONS[permission]


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def open_session(store: BaseStore, principal: Principal, now: datetime | None = None) -> tuple[str, Session]:
    """A new session for a logged-in user: (cookie value, session). Only the value's hash is stored."""
    now = now or datetime.now(timezone.utc)
    secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    store.execute("INSERT INTO console_sessions (session_hash, user_name, csrf, created_at, expires_at) "
                  "VALUES (?, ?, ?, ?, ?)", (_digest(secret), principal.name, csrf, utc_now(),
                                             (now + timedelta(hours=SESSION_HOURS)).isoformat()))
    return secret, Session(principal, csrf)


def find_session(store: BaseStore, secret: str | None, now: datetime | None = None) -> Session | None:
    """The live session of a cookie value (its user still active), or None."""
    if not secret:
        return None
    rows = store.query("SELECT user_name, csrf, expires_at FROM console_sessions WHERE session_hash = ?",
                       (_digest(secret),))
    if not rows or parse_utc(rows[0]["expires_at"]) <= (now or datetime.now(timezone.utc)):
        return None
    principal = user(store, rows[0]["user_name"])
    return Session(principal, rows[0]["csrf"]) if principal else None


def close_session(store: BaseStore, secret: str | None) -> None:
    if secret:
        store.execute("DELETE FROM console_sessions WHERE session_hash = ?", (_digest(secret),))


def same_token(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


class LoginLimiter:
    """Failed logins within ``window_s``: at most ``per_account`` for one account name (guessing one
    password) and ``per_address`` from one client address (trying many names)."""

    def __init__(self, per_account: int = 5, per_address: int = 20, window_s: float = 900.0) -> None:
        self.limits = {"user": per_account, "ip": per_address}
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures[key]
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def blocked(self, address: str, name: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            return any(len(self._recent(key, now)) >= self.limits[key[0]]
                       for key in (("ip", address), ("user", name)))

    def failed(self, address: str, name: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            for key in (("ip", address), ("user", name)):
                self._recent(key, now).append(now)

    def succeeded(self, address: str, name: str) -> None:
        with self._lock:
            self._failures.pop(("user", name), None)
