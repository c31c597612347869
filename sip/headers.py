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


def source_host(address: str) -> str:
    """``127.0.0.1:5061`` / ``[::1]:5061`` → the host part."""
    address = address.strip()
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    return address.rsplit(":", 1)[0] if address.count(":") == 1 else address


def _header_values(message: str, name: str) -> list[str]:
    values = []
    for line in message.split("\r\n\r\n", 1)[0].splitlines()[1:]:
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if sep and (key == name or (name == "via" and key == "v")):
            values.append(value.strip())
    return values


_SDP_CONNECTION = re.compile(r"^c=IN IP([46]) (\S+)\s*$")
_SDP_AUDIO = re.compile(r"^m=audio (\d+)(?:/\d+)? RTP/S?AVPF? [\d ]+$")


def request_problem(message: bytes | str) -> str | None:
    """Why an INVITE is malformed (answer 400 before any media), or None: a Content-Length that is
    not the body's size, or an SDP offer without a usable audio address and port."""
    raw = message.encode("utf-8", "surrogateescape") if isinstance(message, str) else message
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return "no blank line after the headers"
    text = head.decode("utf-8", "replace") + "\r\n\r\n"
    length = header(text, "Content-Length") or header(text, "l")
    if length is not None:
        if not length.isdigit():
            return f"Content-Length is not a number: {length[:20]!r}"
        if int(length) != len(body):
            return f"Content-Length {int(length)} but the body has {len(body)} bytes"
    content_type = (header(text, "Content-Type") or header(text, "c") or "").split(";")[0].strip().lower()
    if not body.strip():
        return None  # no offer: the answer's SDP is ours and the caller's comes with the ACK
    if content_type != "application/sdp":
        return None  # pjsip answers 415 for bodies it does not take
    return sdp_problem(body.decode("utf-8", "replace"))


def sdp_problem(sdp: str) -> str | None:
    """What makes an SDP offer unusable for an audio call, or None."""
    import ipaddress

    lines = [line.strip() for line in sdp.strip().splitlines()]
    if not lines or lines[0] != "v=0":
        return "SDP does not start with v=0"
    connections = [_SDP_CONNECTION.match(line) for line in lines if line.startswith("c=")]
    audio = [_SDP_AUDIO.match(line) for line in lines if line.startswith("m=audio")]
    if not audio or audio[0] is None:
        return "SDP has no usable m=audio line"
    port = int(audio[0].group(1))
    if not 1 <= port <= 65535:
        return f"SDP audio port {port} is out of range"
    if not connections or any(c is None for c in connections):
        return "SDP has no usable c= line"
    for match in connections:
        try:
            address = ipaddress.ip_address(match.group(2))
        except ValueError:
            return f"SDP connection address {match.group(2)[:40]!r} is not an IP address"
        if address.is_unspecified or address.is_multicast:
            return f"SDP connection address {address} cannot receive a call's audio"
    return None
