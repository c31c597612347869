"""Reading what we need from a raw SIP message: headers and the user part of URIs."""

from __future__ import annotations

import re

_URI_USER = re.compile(r"sips?:([^@;>\s]+)@", re.IGNORECASE)
_COMPACT = {"f": "from", "t": "to", "i": "call-id", "m": "contact"}


def header(message: str, name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive; compact forms too), or None."""
    wanted = name.lower()
    for line in message.split("\r\n\r\n", 1)[0].splitlines()[1:]:
        if ":" not in line:
            continue
        key, value = line.split(":", 1)
        key = key.strip().lower()
        if _COMPACT.get(key, key) == wanted:
            return value.strip()
    return None


def uri_user(value: str | None) -> str | None:
    """``"Ana" <sip:+525512345678@host>;tag=x`` → ``+525512345678``."""
    if not value:
        return None
    match = _URI_USER.search(value)
    return match.group(1) if match else None
