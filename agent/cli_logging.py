"""Logging for the long-running commands: every line written is one line, whatever a peer sent.

Text from the network (a SIP header, a phone number, an exception message quoting a packet) may hold
newlines, carriage returns or terminal escapes; ``escape_controls`` writes them as ``\\n``, ``\\x1b``…
so a packet can neither forge a log line ("call … ended: completed") nor drive the operator's terminal.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

# C0 and C1 controls, DEL, and the Unicode line/paragraph separators and bidi controls.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def escape_controls(text: str) -> str:
    """``text`` with every control character written as an escape (backslashes kept as they are)."""
    return _UNSAFE.sub(lambda m: _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                                            else f"\\u{ord(m.group()):04x}"), text)


class SafeFormatter(logging.Formatter):
    """A formatter whose message is escaped; a traceback keeps its lines, each indented, so none
    can pass for a log line of its own."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            line = escape_controls(super().format(record))
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved
        extra = []
        if record.exc_info:
            extra.append(self.formatException(record.exc_info))
        elif record.exc_text:
            extra.append(record.exc_text)
        if record.stack_info:
            extra.append(self.formatStack(record.stack_info))
        for block in extra:
            line += "".join(f"\n    | {escape_controls(part)}" for part in block.splitlines())
        return line


def setup_logging(level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Root logging to ``stream`` (stderr) through ``SafeFormatter`` (replaces earlier handlers)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(SafeFormatter(FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def safe_print(line: str) -> None:
    """A status line on stdout (``call … ended: …``), escaped like a log line."""
    print(escape_controls(line), flush=True)
