"""Who may take a call slot: limits per source address, so one peer cannot hold every slot.

A source is the IP address a new INVITE came from (behind the ``--workers`` front, the caller's
address that Kamailio recorded in the Via). Per source: live calls at most ``max_calls`` (by default
all slots but one, so another source always finds one), calls answered but not yet acknowledged at
most ``max_pending``, and INVITEs a token bucket (``burst`` at once, ``per_minute`` sustained; an
empty bucket marks a flood, which the agent then drops in the kernel: see ``flood_filter``).
Only the polling thread uses it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class SourceLimits:
    max_calls: int
    max_pending: int = 2
    burst: int = 10
    per_minute: float = 60.0
    total_burst: int = 16          # INVITEs from all sources together (pjlib's 64 sockets, 2 per INVITE,
    total_per_second: float = 16.0  # each kept 500 ms after closing)


@dataclass
class _Source:
    tokens: float
    refilled: float
    calls: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)


class Admission:
    """Reserve, confirm and release call slots per source; ``refusal`` says why a call is turned away."""

    def __init__(self, limits: SourceLimits, clock: Callable[[], float] = time.monotonic,
                 max_sources: int = 10_000) -> None:
        self.limits = limits
        self._clock = clock
        self._sources: dict[str, _Source] = {}
        self._by_call: dict[str, str] = {}
        self._max_sources = max_sources
        self._total_tokens = float(limits.total_burst)
        self._total_refilled = clock()
        self.overloaded = False   # the last INVITE found the shared bucket empty

    def refusal(self, source: str, call_key: str) -> str | None:
        """None and the slot reserved for ``call_key`` (pending), or why ``source`` may not call now."""
        now = self._clock()
        self._total_tokens = min(self.limits.total_burst, self._total_tokens
                                 + (now - self._total_refilled) * self.limits.total_per_second)
        self._total_refilled = now
        self.overloaded = self._total_tokens < 1
        if self.overloaded:
            return "too many new calls from all sources together"
        self._total_tokens -= 1
        entry = self._source(source, now)
        entry.tokens = min(self.limits.burst, entry.tokens + (now - entry.refilled) * self.limits.per_minute / 60)
        entry.refilled = now
        if entry.tokens < 1:
            return f"too many new calls from {source}"
        entry.tokens -= 1   # every INVITE costs a token, refused or not
        if len(entry.calls) >= self.limits.max_calls:
            return f"{len(entry.calls)} calls already from {source}"
        if len(entry.pending) >= self.limits.max_pending:
            return f"{len(entry.pending)} unacknowledged calls from {source}"
        entry.calls.add(call_key)
        entry.pending.add(call_key)
        self._by_call[call_key] = source
        return None

    def confirmed(self, call_key: str) -> None:
        """The caller acknowledged the answer: the call no longer counts as pending."""
        source = self._by_call.get(call_key)
        if source is not None:
            self._sources[source].pending.discard(call_key)

    def released(self, call_key: str) -> None:
        source = self._by_call.pop(call_key, None)
        if source is not None:
            entry = self._sources[source]
            entry.calls.discard(call_key)
            entry.pending.discard(call_key)

    def flooding(self, source: str) -> bool:
        entry = self._sources.get(source)
        return entry is not None and entry.tokens < 1

    def live_calls(self, source: str) -> int:
        entry = self._sources.get(source)
        return len(entry.calls) if entry else 0

    def _source(self, source: str, now: float) -> _Source:
        entry = self._sources.get(source)
        if entry is None:
            if len(self._sources) >= self._max_sources:
                self._forget_idle(now)
            entry = self._sources[source] = _Source(tokens=float(self.limits.burst), refilled=now)
        return entry

    def _forget_idle(self, now: float) -> None:
        """Drop sources with no call whose bucket has refilled (they start afresh anyway)."""
        full_after = 60 * self.limits.burst / self.limits.per_minute
        for source, entry in list(self._sources.items()):
            if not entry.calls and now - entry.refilled >= full_after:
                del self._sources[source]
        if len(self._sources) >= self._max_sources:  # a spread flood: forget the oldest idle ones
            idle = sorted((e.refilled, s) for s, e in self._sources.items() if not e.calls)
            for _, source in idle[: len(idle) // 2 + 1]:
                del self._sources[source]
