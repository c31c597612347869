"""Synthesised audio made ready for the phone: telephone band, one loudness, no clipping, no clicks.

Every prompt (fixed or per call) and every tune goes through ``phone_ready`` once, before it is
cached or queued, so what reaches G.711 is:

* band-limited to 300–3400 Hz (zero-phase, in the frequency domain, raised-cosine skirts from
  200 Hz and to 3700 Hz): no energy the line would drop or alias, measured as it will be heard;
* at ``TARGET_DBFS`` speech-active RMS (20 ms frames within ``GATE_DB`` of the loudest one), with a
  peak limiter so no sample exceeds ``CEILING_DBFS``;
* faded in and out over ``FADE_MS`` so a cut at either end makes no click.

Levels are dBFS with a full-scale square wave at 0 dB (as ``audio.level.dbfs``): float 1.0 RMS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..audio import SAMPLE_RATE

TARGET_DBFS = -18.0
CEILING_DBFS = -1.0
BAND_HZ = (300.0, 3400.0)
SKIRT_HZ = (100.0, 300.0)   # width of the raised-cosine transition below / above the band
FADE_MS = 8.0
GATE_DB = 35.0              # frames this far below the loudest frame are pauses, not speech
FLOOR_DBFS = -70.0          # and so is anything quieter than this
FRAME_MS = 20.0
LIMITER_MS = 2.5            # half-width of the limiter's gain window (attack and release)


@dataclass(frozen=True)
class Level:
    """How loud a signal is: speech-active RMS and the highest sample, both in dBFS."""

    rms_dbfs: float
    peak_dbfs: float
    clipped: int  # samples at or beyond full scale


def _db(value: float) -> float:
    return float(20.0 * np.log10(value)) if value > 0 else -120.0


def active_rms(audio: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """RMS over the 20 ms frames that carry sound (within ``GATE_DB`` of the loudest, above
    ``FLOOR_DBFS``); 0.0 for silence."""
    frame = max(1, int(rate * FRAME_MS / 1000))
    n = len(audio) // frame
    if n == 0:
        return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if len(audio) else 0.0
    power = np.mean(np.square(audio[: n * frame].reshape(n, frame), dtype=np.float64), axis=1)
    gate = max(power.max() * 10 ** (-GATE_DB / 10), 10 ** (FLOOR_DBFS / 10))
    active = power[power >= gate]
    return float(np.sqrt(active.mean())) if active.size else 0.0


def measure(audio: np.ndarray, rate: int = SAMPLE_RATE) -> Level:
    """The level of float audio (full scale ±1.0) or int16 audio (full scale ±32768)."""
    x = _as_float(audio)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    clipped = int(np.count_nonzero(np.abs(x) >= 32767 / 32768)) if x.size else 0
    return Level(round(_db(active_rms(x, rate)), 2), round(_db(peak), 2), clipped)


def band_limit(audio: np.ndarray, rate: int = SAMPLE_RATE, band: tuple[float, float] = BAND_HZ) -> np.ndarray:
    """``audio`` with only the telephone band left: flat inside ``band``, raised-cosine skirts of
    ``SKIRT_HZ`` outside it, zero phase (no delay, no smearing of the onsets)."""
    if len(audio) == 0:
        return audio.astype(np.float32)
    pad = int(0.05 * rate)  # room for the filter's ringing, so nothing wraps around
    size = 1 << int(np.ceil(np.log2(len(audio) + 2 * pad)))
    spectrum = np.fft.rfft(np.asarray(audio, dtype=np.float64), size)
    freqs = np.fft.rfftfreq(size, 1.0 / rate)
    low, high = band
    below, above = SKIRT_HZ
    gain = np.ones_like(freqs)
    rise = np.clip((freqs - (low - below)) / below, 0.0, 1.0)
    fall = np.clip(((high + above) - freqs) / above, 0.0, 1.0)
    gain *= 0.5 - 0.5 * np.cos(np.pi * rise)
    gain *= 0.5 - 0.5 * np.cos(np.pi * fall)
    return np.fft.irfft(spectrum * gain, size)[: len(audio)].astype(np.float32)


def limit_peaks(audio: np.ndarray, ceiling: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Attenuate only around samples above ``ceiling``: the gain is the running minimum of the gain
    each sample needs, smoothed by a moving average of the same width (so it never exceeds what
    any sample needs, and changes over ~5 ms instead of at once)."""
    magnitude = np.abs(audio)
    if not magnitude.size or magnitude.max() <= ceiling:
        return audio
    needed = np.minimum(1.0, ceiling / np.maximum(magnitude, 1e-12))
    half = max(1, int(rate * LIMITER_MS / 1000))
    padded = np.pad(needed, half, constant_values=1.0)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    floor = windows.min(axis=1)
    smooth = np.convolve(np.pad(floor, half, mode="edge"), np.full(2 * half + 1, 1.0 / (2 * half + 1)), mode="valid")
    out = audio * np.minimum(smooth, needed)
    return np.clip(out, -ceiling, ceiling)


def fade(audio: np.ndarray, rate: int = SAMPLE_RATE, ms: float = FADE_MS) -> np.ndarray:
    """Raised-cosine fade-in and fade-out of ``ms`` (shorter for a very short signal)."""
    n = min(int(rate * ms / 1000), len(audio) // 2)
    if n < 2:
        return audio
    ramp = (0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)).astype(audio.dtype)
    out = audio.copy()
    out[:n] *= ramp
    out[len(out) - n :] *= ramp[::-1]
    return out


def phone_ready(audio: np.ndarray, rate: int = SAMPLE_RATE, target_dbfs: float = TARGET_DBFS,
                ceiling_dbfs: float = CEILING_DBFS) -> np.ndarray:
    """Float32 audio band-limited, at ``target_dbfs`` speech-active RMS, peaks at most
    ``ceiling_dbfs`` and faded at both ends. Silence (or nothing) comes back unchanged."""
    x = band_limit(np.asarray(audio, dtype=np.float32), rate)
    ceiling = 10 ** (ceiling_dbfs / 20)
    target = 10 ** (target_dbfs / 20)
    for _ in range(2):  # the limiter takes a little off the loudest frames: make it up once
        rms = active_rms(x, rate)
        if rms <= 0.0:
            return x
        x = limit_peaks(x * np.float32(target / rms), ceiling, rate)
    return fade(x.astype(np.float32, copy=False), rate)


def _as_float(audio: np.ndarray) -> np.ndarray:
    if np.issubdtype(audio.dtype, np.integer):
        return audio.astype(np.float32) / 32768.0
    return np.asarray(audio, dtype=np.float32)
