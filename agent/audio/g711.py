"""G.711 μ-law and A-law codecs (ITU-T G.711), table driven.

Decoding is a 256-entry lookup; encoding a 65,536-entry lookup indexed by the 16-bit sample,
so a frame costs one ``np.take`` either way. Tables are built once from the G.711 segment rules.
"""

from __future__ import annotations

import numpy as np

_MULAW_BIAS = 0x84


def _mulaw_encode_scalar(sample: int) -> int:
    # As the ITU-T G.191 / Sun reference: work on the 14-bit value (arithmetic shift).
    value = sample >> 2
    if value < 0:
        value, mask = -value, 0x7F
    else:
        mask = 0xFF
    value = min(value, 8159) + (_MULAW_BIAS >> 2)
    segment = max(0, (value >> 6).bit_length())
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


def _mulaw_decode_scalar(code: int) -> int:
    code = ~code & 0xFF
    sign, exponent, mantissa = code & 0x80, (code >> 4) & 0x07, code & 0x0F
    magnitude = (((mantissa << 3) + _MULAW_BIAS) << exponent) - _MULAW_BIAS
    return -magnitude if sign else magnitude


def _alaw_encode_scalar(sample: int) -> int:
    sign = 0x80 if sample >= 0 else 0
    magnitude = sample if sample >= 0 else -sample - 1
    magnitude = min(magnitude >> 3, 0xFFF)  # 13-bit magnitude, as G.711 works on 13 bits
    if magnitude < 0x20:
        code = magnitude >> 1
    else:
        exponent = magnitude.bit_length() - 5
        code = (exponent << 4) | ((magnitude >> exponent) & 0x0F)
    return (sign | code) ^ 0x55


def _alaw_decode_scalar(code: int) -> int:
    code ^= 0x55
    sign, exponent, mantissa = code & 0x80, (code >> 4) & 0x07, code & 0x0F
    if exponent == 0:
        magnitude = (mantissa << 4) + 8
    else:
        magnitude = ((mantissa << 4) + 0x108) << (exponent - 1)
    return magnitude if sign else -magnitude


_ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int32)
MULAW_DECODE_TABLE = np.array([_mulaw_decode_scalar(c) for c in range(256)], dtype=np.int16)
ALAW_DECODE_TABLE = np.array([_alaw_decode_scalar(c) for c in range(256)], dtype=np.int16)
MULAW_ENCODE_TABLE = np.array([_mulaw_encode_scalar(int(s)) for s in _ALL_SAMPLES], dtype=np.uint8)
ALAW_ENCODE_TABLE = np.array([_alaw_encode_scalar(int(s)) for s in _ALL_SAMPLES], dtype=np.uint8)


def _index(pcm: np.ndarray) -> np.ndarray:
    return pcm.astype(np.int32) + 32768


def mulaw_encode(pcm: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """int16 PCM → μ-law bytes (uint8)."""
    return np.take(MULAW_ENCODE_TABLE, _index(pcm), out=out)


def mulaw_decode(codes: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """μ-law bytes (uint8) → int16 PCM."""
    return np.take(MULAW_DECODE_TABLE, np.asarray(codes, dtype=np.uint8), out=out)


def alaw_encode(pcm: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """int16 PCM → A-law bytes (uint8)."""
    return np.take(ALAW_ENCODE_TABLE, _index(pcm), out=out)


def alaw_decode(codes: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """A-law bytes (uint8) → int16 PCM."""
    return np.take(ALAW_DECODE_TABLE, np.asarray(codes, dtype=np.uint8), out=out)
