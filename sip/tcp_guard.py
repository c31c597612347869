"""Close SIP-over-TCP/TLS connections that hold a place without carrying a call.

pjlib's socket set in this build holds 64 sockets for every SIP listener and connection together, and
pjsip keeps an accepted connection for 600 s even when nothing ever arrives on it: 62 idle
connections lock every other TCP client out. pjsua2 exposes neither knob, so the polling thread looks
at its own accepted connections (``/proc/self/fd``, the kernel's ``TCP_INFO`` for the time since data
last arrived) and shuts down (never closes: pjsip owns the descriptor and cleans up on EOF) those that
are idle too long, over the per-source limit, or over the total, longest idle first. A connection
that brought a live call is never touched.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass

from .own_sockets import inet_sockets

_TCP_INFO_LAST_DATA_RECV = 52  # offset of tcpi_last_data_recv (ms) in struct tcp_info


@dataclass(frozen=True)
class TcpLimits:
    idle_s: float = 30.0   # no data for this long and no call: closed
    per_source: int = 16   # connections from one address
    total: int = 40        # all accepted connections (of the 64 sockets pjlib can watch)
    per_round: int = 12    # closed at most per check: pjlib keeps a closed socket's entry 500 ms


@dataclass(frozen=True)
class Connection:
    fd: int
    peer: tuple[str, int]
    idle_s: float


def accepted_connections(listen_ports: set[int]) -> list[Connection]:
    """This process's TCP connections accepted on ``listen_ports``."""
    found = []
    for fd, copy in inet_sockets(socket.SOCK_STREAM):
        try:
            if copy.getsockname()[1] not in listen_ports:
                continue
            peer = copy.getpeername()[:2]   # a listener has none
            info = copy.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
        except OSError:
            continue
        (idle_ms,) = struct.unpack_from("I", info, _TCP_INFO_LAST_DATA_RECV)
        found.append(Connection(fd, peer, idle_ms / 1000))
    return found


def to_close(connections: list[Connection], busy: set[tuple[str, int]], limits: TcpLimits) -> list[tuple[Connection, str]]:
    """Which connections to shut down and why (pure: the policy, testable without sockets)."""
    free = sorted((c for c in connections if c.peer not in busy), key=lambda c: -c.idle_s)
    closing: dict[int, tuple[Connection, str]] = {}
    for c in free:
        if c.idle_s >= limits.idle_s:
            closing[c.fd] = (c, f"idle {c.idle_s:.0f} s")
    per_source: dict[str, list[Connection]] = {}
    for c in connections:
        if c.fd not in closing:
            per_source.setdefault(c.peer[0], []).append(c)
    for host, conns in per_source.items():
        excess = len(conns) - limits.per_source
        for c in [c for c in free if c.peer[0] == host and c.fd not in closing][:max(0, excess)]:
            closing[c.fd] = (c, f"more than {limits.per_source} connections from {host}")
    excess = len(connections) - len(closing) - limits.total
    for c in [c for c in free if c.fd not in closing][:max(0, excess)]:
        closing[c.fd] = (c, f"more than {limits.total} connections")
    return sorted(closing.values(), key=lambda item: -item[0].idle_s)[:limits.per_round]


def shut_down(connection: Connection) -> bool:
    try:
        with socket.socket(fileno=os.dup(connection.fd)) as copy:
            if copy.getpeername()[:2] != connection.peer:   # the descriptor was reused meanwhile
                return False
            copy.shutdown(socket.SHUT_RDWR)
        return True
    except OSError:
        return False
