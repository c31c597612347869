"""Closing tunes rendered from note lists in the survey script (no third-party audio)."""

from __future__ import annotations

import numpy as np

from ..audio import SAMPLE_RATE


def render_tune(notes: list[tuple[float, int]], rate: int = SAMPLE_RATE, level: float = 0.18) -> np.ndarray:
    """Soft bell-like notes: a sine with a little second harmonic, 8 ms attack, exponential decay."""
    parts = []
    for freq, ms in notes:
        n = rate * ms // 1000
        t = np.arange(n) / rate
        tone = np.sin(2 * np.pi * freq * t) + 0.25 * np.sin(4 * np.pi * freq * t)
        attack = np.minimum(1.0, t / 0.008)
        decay = np.exp(-t / max(ms / 1000 * 0.45, 0.02))
        release = np.minimum(1.0, (n - np.arange(n)) / (0.01 * rate))
        parts.append(tone * attack * decay * release)
    tune = np.concatenate(parts + [np.zeros(rate // 10)]) if parts else np.zeros(0)
    return (level * tune / 1.25).astype(np.float32)
