"""Drop INVITEs from flooding addresses in the kernel, before pjsua spends a call slot on them.

Every INVITE pjsua takes in gets a call slot and two RTP sockets, released a moment later when the
agent refuses it; pjlib keeps each closed socket's entry for 500 ms, and a burst of a few dozen
INVITEs empties its table of 64 and aborts the process on an assertion. So an address over its
new-call rate is blocked for a while by a classic BPF socket filter on the SIP UDP socket: a
datagram that starts with ``INVI`` and comes from a blocked IPv4 address never reaches pjsip. Other
requests (ACK, BYE) from it still do, so its calls in progress can end normally. When INVITEs come
faster than the endpoint can take from all sources together, every INVITE is dropped for a moment.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import socket

SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
_SKF_NET_OFF = -0x100000
_INVI = int.from_bytes(b"INVI", "big")
MAX_BLOCKED = 200   # jump offsets are one byte


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def program(blocked: list[str], every_invite: bool = False) -> list[tuple[int, int, int, int]]:
    """The BPF instructions (code, jt, jf, k) dropping INVITEs from the ``blocked`` IPv4 addresses
    (``every_invite``: from anyone, while the whole endpoint is flooded)."""
    addresses = [] if every_invite else [int(ipaddress.IPv4Address(a)) for a in blocked[:MAX_BLOCKED]]
    accept = 5 + len(addresses)
    drop = accept + 1
    code = [
        (0x80, 0, 0, 0),                                  # A = packet length (from the UDP header)
        (0x35, 0, accept - 2, 12),                        # A >= 12 (header and 4 bytes), else accept
        (0x20, 0, 0, 8),                                  # A = first 4 bytes of the SIP message
        (0x15, 0, accept - 4, _INVI),                     # an INVITE, else accept
        (0x20, 0, 0, (_SKF_NET_OFF + 12) & 0xFFFFFFFF),   # A = IPv4 source address
    ]
    if every_invite:
        code[4] = (0x06, 0, 0, 0)                         # drop it
    for i, address in enumerate(addresses):
        code.append((0x15, drop - (5 + i) - 1, 0, address))
    code += [(0x06, 0, 0, 0xFFFFFFFF), (0x06, 0, 0, 0)]   # accept, drop
    return code


def attach(fd: int, blocked: list[str], every_invite: bool = False) -> None:
    """Put the filter for ``blocked`` on socket ``fd`` (replacing any previous one; none: detached)."""
    with socket.socket(fileno=os.dup(fd)) as copy:
        if not blocked and not every_invite:
            try:
                copy.setsockopt(socket.SOL_SOCKET, SO_DETACH_FILTER, 0)
            except OSError:
                pass  # no filter was attached
            return
        code = program(blocked, every_invite)
        instructions = (_SockFilter * len(code))(*[_SockFilter(*c) for c in code])
        fprog = _SockFprog(len(code), ctypes.cast(instructions, ctypes.POINTER(_SockFilter)))
        copy.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(fprog))


def limit_backlog(fd: int, size: int = 8192) -> None:
    """A small receive buffer: a burst queued before the filter takes effect stays a few packets."""
    with socket.socket(fileno=os.dup(fd)) as copy:
        copy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def udp_socket_fd(host: str, port: int) -> int | None:
    """This process's UDP socket bound to ``host:port``."""
    for name in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            with socket.socket(fileno=os.dup(int(name))) as copy:
                if copy.type == socket.SOCK_DGRAM and copy.getsockname()[:2] == (host, port):
                    return int(name)
        except OSError:
            continue
    return None
