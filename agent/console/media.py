"""A recording served from memory (decrypted there, never written out) with HTTP range requests,
so the browser's audio player can seek."""

from __future__ import annotations

import re

from starlette.responses import Response

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_HEADERS = {"Cache-Control": "private, no-store", "Accept-Ranges": "bytes"}


def byte_span(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` bytes of a one-range ``bytes=…`` header; None when outside the data."""
    first, last = _RANGE.match(header.replace(" ", "")).groups()
    if not first:                                   # bytes=-N: the last N bytes
        return (max(0, size - int(last)), size - 1) if last and int(last) > 0 and size else None
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    return (start, end) if start <= end else None


def wav_response(data: bytes, range_header: str = "") -> Response:
    """200 with the whole WAV (no range, or one this server does not split: several ranges), 206 with
    the asked part, 416 when the range is outside it."""
    if not _RANGE.match(range_header.replace(" ", "")):
        return Response(data, media_type="audio/wav", headers=_HEADERS)
    span = byte_span(range_header, len(data))
    if span is None:
        return Response(status_code=416, headers={**_HEADERS, "Content-Range": f"bytes */{len(data)}"})
    first, last = span
    return Response(data[first:last + 1], status_code=206, media_type="audio/wav",
                    headers={**_HEADERS, "Content-Range": f"bytes {first}-{last}/{len(data)}"})
