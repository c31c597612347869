"""Per-frame spectral measures shared by endpointing and answering-machine detection."""

from __future__ import annotations

import numpy as np

from . import FRAME_SAMPLES, SAMPLE_RATE

_WINDOW = np.hanning(FRAME_SAMPLES).astype(np.float32)
FREQS = np.fft.rfftfreq(FRAME_SAMPLES, 1 / SAMPLE_RATE)
VOICE_BAND = (FREQS >= 300) & (FREQS <= 3400)


def power_spectrum(frame: np.ndarray) -> np.ndarray:
    """Hann-windowed power spectrum of one 20 ms frame (int16 or float)."""
    return np.abs(np.fft.rfft(frame.astype(np.float32) * _WINDOW)) ** 2


def flatness(spectrum: np.ndarray, band: np.ndarray = VOICE_BAND) -> float:
    """Spectral flatness (geometric / arithmetic mean) in ``band``: ≈ 1 for hiss, low for voiced speech."""
    values = spectrum[band] + 1e-9
    return float(np.exp(np.mean(np.log(values))) / np.mean(values))
