"""Digest authentication of incoming INVITEs (RFC 2617 / RFC 7616 with MD5), done by the agent itself.

pjsua2 authenticates only as a client (its ``AuthCredInfo`` answers a registrar's or proxy's
challenge); it has no server side for incoming requests. So the agent answers an INVITE without
credentials with ``401`` and a ``WWW-Authenticate`` challenge, and checks the ``Authorization`` of
the INVITE that comes back. Nonces are stateless (a time stamp and random bytes, signed), expire after
``NONCE_TTL_S`` and are taken once: a replayed INVITE gets a fresh challenge (``stale=true``). Which
were taken is kept by a ``UsedNonces`` store (``sip/used_nonces.py``): in memory, or one SQLite file
shared by the workers of ``serve --workers N``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
from dataclasses import dataclass
from typing import Callable

from .used_nonces import MemoryUsedNonces, UsedNonces

NONCE_TTL_S = 30.0
_PARAM = re.compile(r'([A-Za-z][\w-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+)')


@dataclass(frozen=True)
class DigestCredentials:
    """``sip_auth: {username, password}`` of the serve config; ``realm`` is what the challenge names."""

    username: str
    password: str
    realm: str = "encuestador"

    def __repr__(self) -> str:  # the password never reaches a log line
        return f"DigestCredentials(username={self.username!r}, realm={self.realm!r}, password=***)"


@dataclass(frozen=True)
class DigestCheck:
    """The verdict on an ``Authorization`` header: ``ok``; or ``stale`` (challenge again); else why not."""

    ok: bool
    stale: bool = False
    reason: str = ""


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def parse_authorization(value: str) -> dict[str, str] | None:
    """``Digest username="a", nonce="n", …`` → its parameters (names in lower case), or None when it
    is not a Digest header."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params = {}
    for name, raw in _PARAM.findall(rest):
        params[name.lower()] = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
    return params


def expected_response(params: dict[str, str], password: str, method: str) -> str:
    """The ``response`` a client knowing ``password`` sends for these parameters (RFC 2617 §3.2.2)."""
    ha1 = _md5(f"{params['username']}:{params['realm']}:{password}")
    ha2 = _md5(f"{method}:{params['uri']}")
    if params.get("qop"):
        return _md5(f"{ha1}:{params['nonce']}:{params.get('nc', '')}:{params.get('cnonce', '')}:{params['qop']}:{ha2}")
    return _md5(f"{ha1}:{params['nonce']}:{ha2}")


@dataclass
class DigestServer:
    """Issues challenges and checks the answers for one set of credentials.

    The nonces are signed with a key derived from the credentials, so every worker behind the
    Kamailio front (which spreads INVITEs round-robin: the authenticated retry may reach another
    worker) accepts the others' nonces; ``used`` (shared by the workers) says which were taken."""

    credentials: DigestCredentials
    clock: Callable[[], float] = time.time
    used: UsedNonces | None = None  # None: this process's memory

    def __post_init__(self) -> None:
        if self.used is None:
            self.used = MemoryUsedNonces(self.clock)
        c = self.credentials
        self._key = hashlib.sha256(f"encuestador nonce\0{c.realm}\0{c.username}\0{c.password}".encode()).digest()

    def challenge(self, stale: bool = False) -> str:
        """A ``WWW-Authenticate`` header value with a fresh nonce."""
        stamp = f"{int(self.clock() * 1000):x}-{os.urandom(6).hex()}"  # when, and unique
        nonce = f"{stamp}.{self._sign(stamp)}"
        return (f'Digest realm="{self.credentials.realm}", nonce="{nonce}", algorithm=MD5, qop="auth"'
                + (", stale=true" if stale else ""))

    def check(self, authorization: str | None, method: str) -> DigestCheck:
        """Whether ``authorization`` (the header's value) proves the password for ``method``."""
        if not authorization:
            return DigestCheck(False, stale=True, reason="no credentials")  # the first INVITE: challenge
        params = parse_authorization(authorization)
        if params is None:
            return DigestCheck(False, reason="not a Digest Authorization")
        missing = [k for k in ("username", "realm", "nonce", "uri", "response") if k not in params]
        if missing:
            return DigestCheck(False, reason=f"Authorization without {', '.join(missing)}")
        if params.get("algorithm", "MD5").upper() != "MD5":
            return DigestCheck(False, reason=f"algorithm {params['algorithm'][:20]!r} not offered")
        if params.get("qop") not in (None, "auth"):
            return DigestCheck(False, reason=f"qop {params['qop'][:20]!r} not offered")
        if params["realm"] != self.credentials.realm:
            return DigestCheck(False, reason="another realm")
        fresh = self._fresh(params["nonce"])
        if fresh is None:
            return DigestCheck(False, reason="a nonce we did not issue")
        if not fresh:
            return DigestCheck(False, stale=True, reason="an expired nonce")
        right_user = hmac.compare_digest(params["username"].encode(), self.credentials.username.encode())
        right_answer = hmac.compare_digest(params["response"].lower().encode(),
                                           expected_response(params, self.credentials.password, method).encode())
        if not (right_user and right_answer):
            return DigestCheck(False, reason="wrong username or password")
        assert self.used is not None
        if not self.used.take(params["nonce"], self.clock() + NONCE_TTL_S):  # atomic, across workers
            return DigestCheck(False, stale=True, reason="a used nonce")
        return DigestCheck(True)

    def _sign(self, stamp: str) -> str:
        return hmac.new(self._key, stamp.encode(), hashlib.sha256).hexdigest()[:32]

    def _fresh(self, nonce: str) -> bool | None:
        """None: not ours; False: ours but expired; True: within its lifetime (``used`` says if taken)."""
        stamp, _, mac = nonce.partition(".")
        if not mac or not hmac.compare_digest(mac.encode(), self._sign(stamp).encode()):
            return None
        try:
            issued = int(stamp.split("-", 1)[0], 16) / 1000
        except ValueError:
            return None
        return self.clock() - issued <= NONCE_TTL_S
