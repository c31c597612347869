"""Tone detection (Goertzel) and tone synthesis.

``DtmfDetector`` finds in-band DTMF keys on 16 kHz frames; ``tone_power`` is the shared
primitive (also for beeps and special-information tones).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import SAMPLE_RATE

DTMF_ROWS = (697.0, 770.0, 852.0, 941.0)
DTMF_COLS = (1209.0, 1336.0, 1477.0, 1633.0)
DTMF_KEYS = ("123A", "456B", "789C", "*0#D")


def tone_power(block: np.ndarray, freqs, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Goertzel power of ``block`` at each frequency, computed as one matrix product
    (|Σ x[n]·e^{-iωn}|²; a sine of amplitude A over N samples gives ≈ (A·N/2)²)."""
    x = np.asarray(block, dtype=np.float64)
    n = np.arange(len(x))
    phases = 2.0 * np.pi * np.outer(np.atleast_1d(freqs), n) / rate
    re = np.cos(phases) @ x
    im = np.sin(phases) @ x
    return re * re + im * im


@dataclass(frozen=True)
class DtmfHit:
    key: str
    at_ms: int


class DtmfDetector:
    """In-band DTMF on 20 ms blocks: one row and one column tone carry most of the energy and each
    dominates its group, twist within limits, and a key is reported once it has lasted ≥ 40 ms,
    then not again until a pause. RFC 4733 events are the primary keypad path; this is the fallback."""

    _FREQS = np.array(DTMF_ROWS + DTMF_COLS)

    def __init__(self, rate: int = SAMPLE_RATE, block_ms: int = 20, min_level: float = 1e-4,
                 max_normal_twist_db: float = 8.0, max_reverse_twist_db: float = 4.0) -> None:
        self.rate = rate
        self.block = rate * block_ms // 1000
        self.block_ms = block_ms
        n = np.arange(self.block)
        window = np.hanning(self.block)
        phases = 2.0 * np.pi * np.outer(self._FREQS, n) / rate
        self._cos = np.cos(phases) * window
        self._sin = np.sin(phases) * window
        self._norm = (window.sum() / 2.0) ** 2
        self.min_level = min_level
        self.normal_twist = 10 ** (max_normal_twist_db / 10)
        self.reverse_twist = 10 ** (max_reverse_twist_db / 10)
        self._candidate: str | None = None
        self._run = 0
        self._reported = False
        self._elapsed_ms = 0
        self.tone_present = False  # whether the last block held a key tone

    def _classify(self, block: np.ndarray) -> str | None:
        x = block.astype(np.float64) / 32768.0
        energy = float(np.dot(x, x)) / len(x)
        if energy < self.min_level:
            return None
        re = self._cos @ x
        im = self._sin @ x
        power = (re * re + im * im) / self._norm  # ≈ amplitude² of each component
        rows, cols = power[:4], power[4:]
        r, c = int(np.argmax(rows)), int(np.argmax(cols))
        pr, pc = rows[r], cols[c]
        # The two tones must carry most of the energy (sine of amplitude A has mean power A²/2).
        if (pr + pc) / 2.0 < 0.6 * energy:
            return None
        # Each must dominate the other tones of its group.
        if np.sort(rows)[-2] > pr / 6.3 or np.sort(cols)[-2] > pc / 6.3:
            return None
        # Twist: high group louder than low ("normal") or quieter ("reverse"), within limits.
        if pc > pr * self.normal_twist or pr > pc * self.reverse_twist:
            return None
        return DTMF_KEYS[r][c]

    def process(self, frame: np.ndarray) -> DtmfHit | None:
        """Feed one block of ``block`` samples; returns a hit when a key is first confirmed."""
        self._elapsed_ms += self.block_ms
        key = self._classify(frame)
        self.tone_present = key is not None
        if key is None:
            self._candidate, self._run, self._reported = None, 0, False
            return None
        if key != self._candidate:
            self._candidate, self._run, self._reported = key, 1, False
        else:
            self._run += 1
        if not self._reported and self._run * self.block_ms >= 40:
            self._reported = True
            return DtmfHit(key, self._elapsed_ms)
        return None


def sine(freq: float, ms: int, rate: int = SAMPLE_RATE, amplitude: float = 0.3) -> np.ndarray:
    n = np.arange(rate * ms // 1000)
    return (amplitude * np.sin(2 * np.pi * freq * n / rate)).astype(np.float32)


def dtmf_tone(key: str, ms: int = 80, rate: int = SAMPLE_RATE, amplitude: float = 0.25) -> np.ndarray:
    """A DTMF key as float32 audio (both tones at ``amplitude`` each)."""
    for r, row in enumerate(DTMF_KEYS):
        if key in row:
            c = row.index(key)
            return sine(DTMF_ROWS[r], ms, rate, amplitude) + sine(DTMF_COLS[c], ms, rate, amplitude)
    raise ValueError(f"not a DTMF key: {key!r}")
