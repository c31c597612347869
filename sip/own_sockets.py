"""This process's own internet sockets, found through /proc/self/fd (pjsip does not hand them out)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator


def inet_sockets(kind: socket.SocketKind) -> Iterator[tuple[int, socket.socket]]:
    """(fd, a duplicate of the socket) for each IPv4/IPv6 socket of ``kind`` this process holds.
    The duplicate is closed when the caller moves on to the next one."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            copy = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        with copy:
            if copy.type == kind and copy.family in (socket.AF_INET, socket.AF_INET6):
                yield fd, copy
