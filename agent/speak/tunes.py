"""Closing tunes rendered from note lists in the survey script (no third-party audio)."""

from __future__ import annotations

import numpy as np

from ..audio import SAMPLE_RATE
from .phone_ready import phone_ready


def render_tune(notes: list[tuple[float, int]], rate: int = SAMPLE_RATE) -> np.ndarray:
    """Soft bell-like notes: a sine with a little second harmonic, 8 ms attack, exponential decay;
    made phone-ready like the prompts, so a tune is as loud as the voice around it."""
    parts = []
    for freq, ms in notes:
        n = rate * ms // 1000
        t = np.arange(n) / rate
        tone = np.sin(2 * np.pi * freq * t) + 0.25 * np.sin(4 * np.pi * freq * t)
        attack = np.minimum(1.0, t / 0.008)
        decay = np.exp(-t / max(ms / 1000 * 0.45, 0.02))
        release = np.minimum(1.0, (n - np.arange(n)) / (0.01 * rate))
        parts.append(tone * attack * decay * release)
    if not parts:
        return np.zeros(0, dtype=np.float32)
    tune = phone_ready(np.concatenate(parts).astype(np.float32), rate)
    return np.concatenate([tune, np.zeros(rate // 10, dtype=np.float32)])
