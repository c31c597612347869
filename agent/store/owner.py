"""Which process owns an open call or attempt, and whether that process is still alive.

An owner is ``host/boot id/pid/start time`` of the process that opened the row. On the same host and
boot, a pid that is gone, a zombie, or now another process (different start time) means the owner is
dead; an owner from an earlier boot is dead; an owner on another host cannot be checked from here.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def _boot_id() -> str:
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return "-"


def _start_ticks(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of ``pid``, or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()   # after "pid (comm) ": state is field 3, start time 22
    return fields[0], fields[19]


@lru_cache(maxsize=1)
def _this_process(pid: int) -> str:
    ticks = _start_ticks(pid)
    return f"{socket.gethostname()}/{_boot_id()}/{pid}/{ticks[1] if ticks else '-'}"


def current_owner() -> str:
    """The owner string of this process (recomputed after a fork: the pid is part of the cache key)."""
    return _this_process(os.getpid())


def owner_alive(owner: str | None) -> bool | None:
    """True: the owning process runs; False: it is dead; None: unknown (no owner, another host)."""
    if not owner:
        return None
    parts = owner.split("/")
    if len(parts) != 4:
        return None
    host, boot, pid, ticks = parts
    if host != socket.gethostname():
        return None
    if boot != _boot_id():
        return False
    found = _start_ticks(int(pid)) if pid.isdigit() else None
    if found is None:
        return False
    state, started = found
    return state != "Z" and (ticks == "-" or started == ticks)
