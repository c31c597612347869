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
    """In-band DTMF meeting the ITU-T Q.24 receiver tolerances, on 20 ms frames at 16 kHz.

    Each frame is analysed as two 20 ms Hann windows at a 10 ms hop, so a 40 ms key is seen whatever
    its alignment with the frames. A window holds a key when one row and one column tone carry most of
    its energy, each dominates its group, the twist is within limits and both tones are within
    ``max_deviation`` of their nominal frequency (Q.24: accept ±1.5 %, reject ±3.5 %; the frequency is
    measured on a fine grid only for windows that pass the cheap tests). A key is reported once
    ``min_windows`` consecutive windows hold it (≈ 40 ms of tone), then not again until a pause.
    RFC 4733 events are the primary keypad path; this is the fallback.
    """

    _FREQS = np.array(DTMF_ROWS + DTMF_COLS)
    _FINE_STEPS = np.linspace(-0.06, 0.06, 25)   # relative offsets for the frequency check

    def __init__(self, rate: int = SAMPLE_RATE, frame_ms: int = 20, min_level: float = 1e-4,
                 max_normal_twist_db: float = 8.5, max_reverse_twist_db: float = 4.5,
                 max_deviation: float = 0.025, min_windows: int = 3) -> None:
        self.rate = rate
        self.frame = rate * frame_ms // 1000
        self.hop = self.frame // 2
        self.frame_ms = frame_ms
        window = np.hanning(self.frame)
        n = np.arange(self.frame)
        phases = 2.0 * np.pi * np.outer(self._FREQS, n) / rate
        scale = window / (window.sum() / 2.0) / 32768.0  # int16-scale samples → tone amplitude (full scale 1)
        self._basis = np.vstack([np.cos(phases) * scale, np.sin(phases) * scale]).astype(np.float32)
        fine = np.outer(self._FREQS, 1.0 + self._FINE_STEPS)[:, :, None] * n / rate * 2.0 * np.pi
        self._fine = np.concatenate([np.cos(fine) * scale, np.sin(fine) * scale], axis=1).astype(np.float32)
        self._samples = np.zeros(self.frame + self.hop, dtype=np.float32)  # last half frame + this frame
        self._straddling = self._samples[: self.frame]
        self._aligned = self._samples[self.hop :]
        self._kept = self._samples[: self.hop]           # fixed views: no slicing per frame
        self._to_keep = self._samples[self.frame :]
        self._last_aligned: str | None = None
        self._k = len(self._FREQS)
        self._projection = np.zeros(2 * self._k, dtype=np.float32)
        self.frame_power = 0.0  # mean square (int16 scale) of the last frame, shared with the VAD
        self.min_level = min_level  # mean power (full scale = 1) below which nothing is tried
        self._energy_scale = 1.0 / (self.frame * 32768.0 ** 2)
        self.normal_twist = 10 ** (max_normal_twist_db / 10)
        self.reverse_twist = 10 ** (max_reverse_twist_db / 10)
        self.max_deviation = max_deviation
        self.min_windows = min_windows
        self._candidate: str | None = None
        self._run = 0
        self._reported = False
        self._elapsed_ms = 0
        self.tone_present = False  # whether the last frame held a key tone

    def _deviation(self, index: int, window: np.ndarray) -> float:
        """Relative deviation of the tone near ``_FREQS[index]`` (peak of a fine grid, refined)."""
        y = (self._fine[index] @ window).astype(np.float64)
        half = len(self._FINE_STEPS)
        p = y[:half] ** 2 + y[half:] ** 2
        k = int(np.argmax(p))
        step = self._FINE_STEPS[1] - self._FINE_STEPS[0]
        offset = 0.0
        if 0 < k < half - 1:
            a, b, c = np.log(p[k - 1 : k + 2] + 1e-20)
            denom = a - 2 * b + c
            offset = 0.5 * (a - c) / denom if denom < 0 else 0.0
        return float(self._FINE_STEPS[k] + offset * step)

    def _classify(self, window: np.ndarray, raw_energy: float) -> str | None:
        """The key held by one window (int16-scale float32 samples, Σx² given), or None."""
        energy = raw_energy * self._energy_scale   # mean power, full scale = 1
        if energy < self.min_level:
            return None
        projection = np.dot(self._basis, window, out=self._projection)
        # The two tones must carry most of the energy: (row + column) / 2 ≥ 0.6 × energy below, and
        # row + column ≤ the sum over all eight tones, so most speech frames stop here.
        if float(np.dot(projection, projection)) < 1.2 * energy:
            return None
        v = projection.tolist()
        k = self._k
        p = [a * a + b * b for a, b in zip(v[:k], v[k:])]   # ≈ amplitude² of each tone
        rows, cols = p[:4], p[4:]
        pr, pc = max(rows), max(cols)
        # The two tones must carry most of the energy (a sine of amplitude A has mean power A²/2).
        if (pr + pc) / 2.0 < 0.6 * energy:
            return None
        r, c = rows.index(pr), cols.index(pc)
        # Each must dominate the other tones of its group.
        if sorted(rows)[-2] > pr / 6.3 or sorted(cols)[-2] > pc / 6.3:
            return None
        # Twist: high group louder than low ("normal") or quieter ("reverse"), within limits.
        if pc > pr * self.normal_twist or pr > pc * self.reverse_twist:
            return None
        if abs(self._deviation(r, window)) > self.max_deviation or abs(self._deviation(4 + c, window)) > self.max_deviation:
            return None
        return DTMF_KEYS[r][c]

    def _advance(self, key: str | None) -> DtmfHit | None:
        if key is None:
            self._candidate, self._run, self._reported = None, 0, False
            return None
        if key != self._candidate:
            self._candidate, self._run, self._reported = key, 1, False
        else:
            self._run += 1
        if not self._reported and self._run >= self.min_windows:
            self._reported = True
            return DtmfHit(key, self._elapsed_ms)
        return None

    def process(self, frame: np.ndarray) -> DtmfHit | None:
        """Feed one 20 ms frame (int16); returns a hit when a key is first confirmed.

        The frame-aligned window is always analysed; the window straddling the previous frame only
        when this frame or the last one held a key, so speech costs one analysis per frame."""
        self._elapsed_ms += self.frame_ms
        self._kept[...] = self._to_keep
        self._aligned[...] = frame
        raw = float(np.dot(self._aligned, self._aligned))
        self.frame_power = raw / self.frame
        aligned = self._classify(self._aligned, raw)
        straddling = None
        if aligned is not None or self._last_aligned is not None:
            straddling = self._classify(self._straddling, float(np.dot(self._straddling, self._straddling)))
        self._last_aligned = aligned
        self.tone_present = aligned is not None or straddling is not None
        if not self.tone_present and self._candidate is None:  # no key now or before: nothing to track
            return None
        first = self._advance(straddling)
        second = self._advance(aligned)
        return first or second


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
