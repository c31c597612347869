"""Pin a call's RTP and RTCP sockets to the address its SDP negotiated, so the kernel drops packets
from any other source.

pjmedia "latches": after a few packets from a new address (at once, while the negotiated peer has
sent nothing yet) it takes that address as the call's peer, feeds its RFC 4733 events to the call
and sends the call's audio there. pjsua2 has no switch for it, so the agent ``connect()``s the call's
UDP sockets (found in ``/proc/self/fd`` by their local address) to the negotiated peer: a connected
UDP socket receives only from that peer, and pjmedia's ``sendto`` still works. Behind a NAT that
rewrites the peer's ports this must be off (``rtp_latching: true``).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from .own_sockets import inet_sockets


@dataclass(frozen=True)
class Pin:
    local: tuple[str, int]
    remote: tuple[str, int]


def split_address(text: str) -> tuple[str, int] | None:
    """``127.0.0.1:4000`` / ``[::1]:4000`` → (host, port); None for an empty or portless name."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":")
    else:
        host, _, port = text.rpartition(":")
    return (host, int(port)) if host and port.isdigit() and int(port) > 0 else None


def _udp_sockets_by_local_address() -> dict[tuple[str, int], int]:
    return {copy.getsockname()[:2]: fd for fd, copy in inet_sockets(socket.SOCK_DGRAM)}


def pin(pins: list[Pin]) -> list[Pin]:
    """Connect each local UDP socket to its remote address; the pins done (a socket not found or
    refused is left as it was)."""
    sockets = _udp_sockets_by_local_address()
    done = []
    for p in pins:
        fd = sockets.get(p.local)
        if fd is None:
            continue
        try:
            with socket.socket(fileno=os.dup(fd)) as copy:  # the duplicate shares the socket; closing it
                copy.connect(p.remote)                       # leaves pjmedia's descriptor open
        except OSError:
            continue
        done.append(p)
    return done


def pinned(local: tuple[str, int]) -> tuple[str, int] | None:
    """The peer a local UDP socket is connected to, or None."""
    fd = _udp_sockets_by_local_address().get(local)
    if fd is None:
        return None
    with socket.socket(fileno=os.dup(fd)) as copy:
        try:
            return copy.getpeername()[:2]
        except OSError:
            return None
