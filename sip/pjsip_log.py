"""pjsip's own log lines, escaped, into Python logging.

pjsip writes its log with ``printf`` unless the application gives it a writer, and some of its lines
quote a packet verbatim (a request missing a required header is dumped whole at level 1): a peer's
terminal escapes, carriage returns and a forged "call … ended: completed" line would reach the serve
log as they were sent. ``PjsipLogWriter`` sends every pjsip line through ``escape_controls`` to the
``encuestador.sip.pjsip`` logger instead, shortened to ``MAX_CHARS``, and at most ``LINES_PER_S`` of
them a second (a flood of malformed packets fills no disk; what was left out is counted).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import pjsua2 as pj

from encuestador.cli_logging import escape_controls

log = logging.getLogger("encuestador.sip.pjsip")

MAX_CHARS = 4000  # a 64 KB packet dumped by pjsip is not worth 64 KB of log per packet
LEVEL = 2          # pjsip formats lines up to this level …
CONSOLE_LEVEL = 1  # … and hands the writer those up to this one (errors; level 2 is every dropped packet)
LINES_PER_S = 20.0
LINES_BURST = 50.0
_PYTHON_LEVELS = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO}


def one_line(text: str, limit: int = MAX_CHARS) -> str:
    """A pjsip log text as one safe line: trimmed, control characters escaped, at most ``limit``
    characters of the original (the rest counted, not written)."""
    text = text.strip(" \n")
    extra = len(text) - limit
    if extra > 0:
        text = text[:limit]
    return escape_controls(text) + (f" … ({extra} more characters)" if extra > 0 else "")


@dataclass
class LineBudget:
    """A token bucket of log lines: ``take`` says whether a line may be written now and how many
    were refused since the last one that was."""

    per_second: float = LINES_PER_S
    burst: float = LINES_BURST
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    last: float | None = field(default=None, init=False)
    refused: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def take(self) -> tuple[bool, int]:
        with self._lock:
            now = self.clock()
            if self.last is not None:
                self.tokens = min(self.burst, self.tokens + (now - self.last) * self.per_second)
            self.last = now
            if self.tokens < 1:
                self.refused += 1
                return False, 0
            self.tokens -= 1
            refused, self.refused = self.refused, 0
            return True, refused


class PjsipLogWriter(pj.LogWriter):
    """pjsua2's log writer: each pjsip line to Python logging, escaped and within ``budget`` (runs
    on whichever thread pjsip logs from; Python logging is thread-safe)."""

    def __init__(self, budget: LineBudget | None = None) -> None:
        super().__init__()
        self.budget = budget or LineBudget()

    def write(self, entry: "pj.LogEntry") -> None:
        try:
            allowed, refused = self.budget.take()
            if not allowed:
                return
            if refused:
                log.warning("%d pjsip log line(s) left out: more than %g a second", refused, self.budget.per_second)
            log.log(_PYTHON_LEVELS.get(entry.level, logging.DEBUG), "%s", one_line(entry.msg))
        except Exception:  # noqa: BLE001 — an exception must not unwind into pjsip's C code (abort)
            pass


def install(config: "pj.EpConfig") -> PjsipLogWriter:
    """Route pjsip's log through a ``PjsipLogWriter`` (before ``libInit``). The endpoint owns the
    writer from then on (``libDestroy`` deletes it), so its Python object is handed over to the C++
    side and lives exactly as long as the endpoint (the caller may keep the returned reference, but
    never frees it). pjlib's start-up banner comes before any writer: ``pjsip_tuning.silence_until_init``
    keeps it off stdout."""
    writer = PjsipLogWriter()
    config.logConfig.level = LEVEL
    config.logConfig.consoleLevel = CONSOLE_LEVEL
    config.logConfig.decor = pj.PJ_LOG_HAS_SENDER  # time, level and line end come from Python logging
    config.logConfig.writer = writer
    writer.__disown__()
    return writer
