"""Console accounts (argon2id password hashes) and API tokens (random, stored as SHA-256 hashes)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..store import BaseStore
from ..store.base import utc_now

ROLES = ("admin", "supervisor", "analyst")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
MIN_PASSWORD = 10
TOKEN_PREFIX = "enc_"

_hasher = PasswordHasher()
# A hash checked when the user does not exist, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("no-such-user-password")


class AccountError(ValueError):
    """A bad name, role or password; the message says which (in Spanish, for the console)."""


@dataclass(frozen=True)
class Principal:
    """Who is asking: a person (``kind="user"``) or a CRM token (``kind="token"``)."""

    name: str
    role: str
    kind: str = "user"


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"rol desconocido «{role}»: use {', '.join(ROLES)}")
    return role


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name or ""):
        raise AccountError("nombre inválido: de 2 a 64 letras, dígitos, «_», «.», «@» o «-»")
    return name


def add_user(store: BaseStore, name: str, role: str, password: str) -> None:
    """Create or replace an account (a new password and role for an existing name)."""
    check_name(name)
    check_role(role)
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"la contraseña debe tener al menos {MIN_PASSWORD} caracteres")
    store.execute("INSERT INTO console_users (name, role, password_hash, active, created_at) VALUES (?, ?, ?, 1, ?) "
                  "ON CONFLICT(name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash, "
                  "active = 1", (name, role, _hasher.hash(password), utc_now()))


def set_active(store: BaseStore, name: str, active: bool) -> bool:
    return store.execute("UPDATE console_users SET active = ? WHERE name = ?", (int(active), name)) > 0


def set_role(store: BaseStore, name: str, role: str) -> bool:
    return store.execute("UPDATE console_users SET role = ? WHERE name = ?", (check_role(role), name)) > 0


def users(store: BaseStore) -> list[dict]:
    return store.query("SELECT name, role, active, created_at FROM console_users ORDER BY name")


def authenticate(store: BaseStore, name: str, password: str) -> Principal | None:
    """The account if ``password`` is right and the account active; None otherwise."""
    rows = store.query("SELECT name, role, password_hash, active FROM console_users WHERE name = ?", (name,))
    stored = rows[0]["password_hash"] if rows else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if not rows or not rows[0]["active"]:
        return None
    if _hasher.check_needs_rehash(stored):
        store.execute("UPDATE console_users SET password_hash = ? WHERE name = ?", (_hasher.hash(password), name))
    return Principal(rows[0]["name"], rows[0]["role"])


def user(store: BaseStore, name: str) -> Principal | None:
    rows = store.query("SELECT name, role FROM console_users WHERE name = ? AND active = 1", (name,))
    return Principal(rows[0]["name"], rows[0]["role"]) if rows else None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def add_token(store: BaseStore, name: str, role: str) -> str:
    """A new API token for ``name`` (replacing any earlier one of that name); returned once, stored hashed."""
    check_name(name)
    check_role(role)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    store.execute("INSERT INTO console_tokens (name, role, token_hash, created_at) VALUES (?, ?, ?, ?) "
                  "ON CONFLICT(name) DO UPDATE SET role = excluded.role, token_hash = excluded.token_hash, "
                  "created_at = excluded.created_at, revoked_at = NULL", (name, role, _digest(token), utc_now()))
    return token


def revoke_token(store: BaseStore, name: str) -> bool:
    return store.execute("UPDATE console_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                         (utc_now(), name)) > 0


def tokens(store: BaseStore) -> list[dict]:
    return store.query("SELECT name, role, created_at, revoked_at FROM console_tokens ORDER BY name")


def token_principal(store: BaseStore, token: str) -> Principal | None:
    rows = store.query("SELECT name, role FROM console_tokens WHERE token_hash = ? AND revoked_at IS NULL",
                       (_digest(token),))
    return Principal(rows[0]["name"], rows[0]["role"], kind="token") if rows else None
