"""Who may call in, and whose word about the caller's identity counts.

- ``sip_allow`` (addresses or CIDR ranges): the trunk/PBX. Calls from there are taken, and their
  ``X-Customer-Id`` and From number name the customer (greeting by name, answers and DNC written
  to that customer).
- ``sip_auth`` (digest): a caller from anywhere else must prove the password (401 challenge). It is
  taken, but anonymous: what it claims about who it is names nobody and writes to nobody's record.
- anyone else: 403.
- neither configured: every peer may call and is believed, as before (said once at start).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from .digest import DigestCredentials, DigestServer
from .headers import header
from .used_nonces import used_nonces_for_this_process


@dataclass(frozen=True)
class InboundVerdict:
    """What to do with an incoming INVITE: ``status`` 0 takes it, 401 challenges, 403 refuses.
    ``trusted``: its identity headers may name a customer."""

    status: int
    trusted: bool
    why: str
    challenge: str | None = None  # the WWW-Authenticate value of a 401


def parse_networks(entries: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """``["10.0.0.5", "192.168.10.0/24"]`` → networks (ValueError names a bad entry)."""
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in entries]


def network_problem(entry: Any) -> str | None:
    """Why ``entry`` is not an address or CIDR range, or None."""
    if not isinstance(entry, str):
        return f"expected an address or CIDR range in quotes, got {entry!r}"
    try:
        ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        return f"{entry!r} is not an IP address or CIDR range (e.g. '10.0.0.5' or '10.0.0.0/24')"
    return None


class InboundPolicy:
    """The allowlist and digest check, applied to each incoming INVITE."""

    def __init__(self, allow: list[str] | None = None, auth: DigestCredentials | None = None) -> None:
        self.networks = parse_networks(allow or [])
        self.digest = DigestServer(auth, used=used_nonces_for_this_process()) if auth is not None else None

    @classmethod
    def from_config(cls, config: Any) -> "InboundPolicy":
        auth = config.sip_auth or None
        credentials = DigestCredentials(auth["username"], auth["password"], auth.get("realm") or "encuestador") \
            if auth else None
        return cls(list(config.sip_allow or []), credentials)

    @property
    def open(self) -> bool:
        """Neither an allowlist nor digest credentials: anyone may call, and is believed."""
        return not self.networks and self.digest is None

    def describe(self) -> str:
        """One start-up line saying who may call in."""
        if self.open:
            return ("warning: no sip_allow and no sip_auth: any peer that reaches this port may call in and name "
                    "a customer (X-Customer-Id, From); list the trunk's addresses in sip_allow")
        parts = []
        if self.networks:
            parts.append(f"from {', '.join(map(str, self.networks))} (trusted: may name the customer)")
        if self.digest is not None:
            parts.append("from elsewhere with digest credentials (anonymous: names no customer)")
        return "inbound calls taken " + " and ".join(parts) + "; others get 403"

    def allowed(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return False
        mapped = getattr(address, "ipv4_mapped", None)
        candidates = [address] + ([mapped] if mapped is not None else [])
        return any(a in net for a in candidates for net in self.networks if a.version == net.version)

    def check(self, source: str, message: str) -> InboundVerdict:
        """The verdict on an INVITE (``message``, the raw request) that came from ``source``."""
        if self.open:
            return InboundVerdict(0, True, "no allowlist or credentials configured")
        if self.allowed(source):
            return InboundVerdict(0, True, "on sip_allow")
        if self.digest is None:
            return InboundVerdict(403, False, "not on sip_allow")
        result = self.digest.check(header(message, "Authorization"), "INVITE")
        if result.ok:
            return InboundVerdict(0, False, "digest credentials accepted")
        if result.stale:
            stale = result.reason != "no credentials"  # a nonce that expired or was used: try again
            return InboundVerdict(401, False, result.reason, self.digest.challenge(stale=stale))
        return InboundVerdict(403, False, result.reason)
