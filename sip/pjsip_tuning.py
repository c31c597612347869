"""pjsip settings that pjsua2 does not expose, set through the library's exported C functions.

The pjsua2 wheel exports the pjsip C API from its extension module, so ``ctypes`` reaches
``pjsip_tsx_set_timers`` (transaction timers) and ``pjsua_call_get_max_count`` (the call slots the
build really has: ``PJSUA_MAX_CALLS`` is a compile-time array size, 4 in this wheel, and
``uaConfig.maxCalls`` above it is silently lowered to it), ``pj_log_set_level`` (quiet before
``libInit``) and ``pjmedia_stream_pause``/``resume`` (an audio stream that sends no RTP until the
call is confirmed).
"""

from __future__ import annotations

import ctypes
from functools import lru_cache

import pjsua2 as pj

# Timer D/F/H and Timer B (all 64×T1 = 32 s in pjsip by default) as one value. An INVITE we answered
# that is never acknowledged holds its call slot until Timer H fires and then until the BYE we send
# to the silent peer times out (Timer F): 2 × this value instead of 64 s. A trunk answers within
# milliseconds; 2 s still allows four retransmissions of a lost request or response on UDP.
TRANSACTION_TIMEOUT_MS = 2000


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL:
    lib = ctypes.CDLL(pj._pjsua2.__file__)
    for name in ("pjmedia_stream_pause", "pjmedia_stream_resume"):
        getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def set_transaction_timeout(timeout_ms: int = TRANSACTION_TIMEOUT_MS) -> None:
    """Shorten pjsip's transaction timeouts (Timer B, D, F, H) to ``timeout_ms``; T1/T2/T4 unchanged.
    Call after ``libInit``; it applies to transactions created afterwards."""
    _library().pjsip_tsx_set_timers(ctypes.c_uint(0), ctypes.c_uint(0), ctypes.c_uint(0), ctypes.c_uint(timeout_ms))


def silence_until_init() -> None:
    """No pjlib log until ``libInit`` sets the configured level and writer (``pjsip_log``): the banner
    ``libCreate`` prints would otherwise go straight to stdout."""
    _library().pj_log_set_level(ctypes.c_int(0))


def call_slots() -> int:
    """How many calls this endpoint can hold at once (after ``libInit``)."""
    return int(_library().pjsua_call_get_max_count())


def hold_sending(stream: int) -> None:
    """Stop the audio stream ``stream`` (a ``pjmedia_stream*``, ``int(OnStreamCreatedParam.stream)``)
    from sending RTP; it still receives. pjmedia sends RTP from the moment the SDP is negotiated
    (our 200), silence while nothing is connected to the call; pjsua2 has no call to stop that."""
    _stream_op("pjmedia_stream_pause", stream)


def resume_sending(stream: int) -> None:
    """Undo ``hold_sending``: RTP flows again from the next 20 ms frame (sequence numbers continue)."""
    _stream_op("pjmedia_stream_resume", stream)


def _stream_op(name: str, stream: int) -> None:
    status = getattr(_library(), name)(ctypes.c_void_p(stream), pj.PJMEDIA_DIR_ENCODING)
    if status != 0:
        raise RuntimeError(f"{name} failed: pj_status_t {status}")
