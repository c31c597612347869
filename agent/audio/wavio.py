"""WAV reading in any common encoding and writing of 16-bit PCM.

``read_wav`` accepts PCM 8/16/24/32-bit, IEEE float 32/64, μ-law and A-law, mono or multichannel
(mixed down), and returns float32 mono at the requested rate. Anything else raises ``AudioFormatError``
with the reason.
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np

from . import g711
from .resample import resample

_PCM, _FLOAT, _ALAW, _MULAW, _EXTENSIBLE = 1, 3, 6, 7, 0xFFFE


class AudioFormatError(ValueError):
    """The file is not a WAV file this project can read."""


def _chunks(data: bytes):
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, pos)
        body = data[pos + 8 : pos + 8 + size]  # a streamed WAV may claim more than it has
        yield chunk_id, body
        pos += 8 + size + (size & 1)


def read_wav(path: str | Path, rate: int | None = 16000) -> tuple[np.ndarray, int]:
    """Read a WAV file as float32 mono in [-1, 1]; resampled to ``rate`` unless it is None.

    Returns (samples, sample_rate).
    """
    path = Path(path)
    return decode_wav(path.read_bytes(), rate, str(path))


def decode_wav(data: bytes, rate: int | None = 16000, path: str = "<bytes>") -> tuple[np.ndarray, int]:
    """``read_wav`` for WAV bytes already in memory (e.g. a synthesiser's stdout)."""
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        raise AudioFormatError(f"{path}: not a WAV file (no RIFF/WAVE header)")
    if data[:4] == b"RIFX":
        raise AudioFormatError(f"{path}: big-endian RIFX WAV is not supported")
    fmt = samples = None
    for chunk_id, body in _chunks(data):
        if chunk_id == b"fmt ":
            if len(body) < 16:
                raise AudioFormatError(f"{path}: truncated fmt chunk")
            tag, channels, src_rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            if tag == _EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack_from("<H", body, 24)[0]
            fmt = (tag, channels, src_rate, bits)
        elif chunk_id == b"data":
            samples = body
    if fmt is None or samples is None:
        raise AudioFormatError(f"{path}: WAV file without fmt or data chunk")
    tag, channels, src_rate, bits = fmt
    if channels < 1 or src_rate <= 0:
        raise AudioFormatError(f"{path}: invalid channel count or sample rate")
    x = _decode(samples, tag, bits, path)
    usable = len(x) - len(x) % channels
    x = x[:usable].reshape(-1, channels).mean(axis=1, dtype=np.float32)
    if rate is not None and rate != src_rate:
        return resample(x, src_rate, rate), rate
    return x.astype(np.float32, copy=False), src_rate


def _decode(raw: bytes, tag: int, bits: int, path: str) -> np.ndarray:
    if tag == _PCM and bits == 8:
        return (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    if tag == _PCM and bits == 16:
        return np.frombuffer(raw[: len(raw) // 2 * 2], "<i2").astype(np.float32) / 32768.0
    if tag == _PCM and bits == 24:
        b = np.frombuffer(raw[: len(raw) // 3 * 3], np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        return v.astype(np.float32) / float(1 << 23)
    if tag == _PCM and bits == 32:
        return np.frombuffer(raw[: len(raw) // 4 * 4], "<i4").astype(np.float32) / float(1 << 31)
    if tag == _FLOAT and bits in (32, 64):
        dtype = "<f4" if bits == 32 else "<f8"
        return np.clip(np.frombuffer(raw[: len(raw) // (bits // 8) * (bits // 8)], dtype), -1, 1).astype(np.float32)
    if tag == _MULAW and bits == 8:
        return g711.mulaw_decode(np.frombuffer(raw, np.uint8)).astype(np.float32) / 32768.0
    if tag == _ALAW and bits == 8:
        return g711.alaw_decode(np.frombuffer(raw, np.uint8)).astype(np.float32) / 32768.0
    raise AudioFormatError(f"{path}: unsupported WAV encoding (format tag {tag}, {bits} bits)")


def to_int16(x: np.ndarray) -> np.ndarray:
    """float [-1, 1] → int16 with clipping."""
    return np.clip(np.round(np.asarray(x, dtype=np.float32) * 32767.0), -32768, 32767).astype(np.int16)


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> Path:
    """Write int16 (or float, converted) samples; shape (n,) is mono, (n, channels) multichannel."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = samples if samples.dtype == np.int16 else to_int16(samples)
    channels = 1 if pcm.ndim == 1 else pcm.shape[1]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.ascontiguousarray(pcm).astype("<i2").tobytes())
    return path
