"""Per-frame spectral measures shared by endpointing and answering-machine detection."""

from __future__ import annotations

import numpy as np

from . import FRAME_SAMPLES, SAMPLE_RATE

_WINDOW = np.hanning(FRAME_SAMPLES)
FREQS = np.fft.rfftfreq(FRAME_SAMPLES, 1 / SAMPLE_RATE)
_VOICE = np.flatnonzero((FREQS >= 300) & (FREQS <= 3400))
VOICE_BAND = slice(int(_VOICE[0]), int(_VOICE[-1]) + 1)  # 300–3400 Hz bins, as a slice (no copy per frame)


def power_spectrum(frame: np.ndarray) -> np.ndarray:
    """Hann-windowed power spectrum of one 20 ms frame (int16 or float)."""
    spectrum = np.fft.rfft(frame * _WINDOW)
    return spectrum.real * spectrum.real + spectrum.imag * spectrum.imag


def flatness(spectrum: np.ndarray, band: slice | np.ndarray = VOICE_BAND) -> float:
    """Spectral flatness (geometric / arithmetic mean) in ``band``: ≈ 1 for hiss, low for voiced speech."""
    values = spectrum[band] + 1e-9
    n = values.size
    return float(np.exp(np.log(values).sum() / n) * n / values.sum())
