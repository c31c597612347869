"""Polyphase FIR resampling in numpy (Kaiser-windowed sinc, anti-aliased).

``resample(x, src_rate, dst_rate)`` converts a whole signal; ``StreamResampler`` converts a stream
frame by frame with its history kept between calls, for the 8↔16 kHz telephone path.
"""

from __future__ import annotations

from functools import lru_cache
from math import gcd

import numpy as np

_HALF_TAPS_PER_PHASE = 10  # filter length 2*10*max(L, M) + 1, as scipy's resample_poly default
_KAISER_BETA = 5.0


@lru_cache(maxsize=32)
def _design(up: int, down: int) -> tuple[np.ndarray, int]:
    """Low-pass prototype for rational factor up/down, laid out as a polyphase bank [up, taps]."""
    max_rate = max(up, down)
    half_len = _HALF_TAPS_PER_PHASE * max_rate
    n = np.arange(-half_len, half_len + 1, dtype=np.float64)
    cutoff = 1.0 / max_rate  # relative to the upsampled Nyquist
    prototype = cutoff * np.sinc(cutoff * n) * np.kaiser(2 * half_len + 1, _KAISER_BETA) * up
    taps_per_phase = -(-prototype.size // up)
    padded = np.zeros(taps_per_phase * up)
    padded[: prototype.size] = prototype
    # bank[p, j] = h[p + j*up]; reversed along j so a window of input can be dotted directly.
    bank = padded.reshape(taps_per_phase, up).T[:, ::-1].copy()
    return bank.astype(np.float32), half_len


def _ratio(src_rate: int, dst_rate: int) -> tuple[int, int]:
    g = gcd(src_rate, dst_rate)
    return dst_rate // g, src_rate // g


def resample(x: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Resample a mono float signal; output length ceil(len * dst / src), aligned like resample_poly."""
    x = np.asarray(x, dtype=np.float32)
    if src_rate == dst_rate:
        return x.copy()
    up, down = _ratio(src_rate, dst_rate)
    bank, half_len = _design(up, down)
    taps = bank.shape[1]
    n_out = -(-x.size * up // down)
    # Output n sits at upsampled position t = n*down + half_len (group delay removed).
    t = np.arange(n_out, dtype=np.int64) * down + half_len
    phase = t % up
    last_input = t // up  # newest input sample under the filter for this output
    pad_front = taps
    padded = np.concatenate([np.zeros(pad_front, np.float32), x, np.zeros(taps, np.float32)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, taps)
    rows = windows[last_input + pad_front - taps + 1]
    return np.einsum("ij,ij->i", rows, bank[phase]).astype(np.float32)


class StreamResampler:
    """Frame-by-frame resampler for a fixed ratio with preallocated history (8↔16 kHz, etc.).

    Output is delayed by the filter's group delay; each call returns exactly
    ``len(frame) * up / down`` samples (frame length must be a multiple of ``down``).
    """

    def __init__(self, src_rate: int, dst_rate: int, frame_samples: int) -> None:
        self.up, self.down = _ratio(src_rate, dst_rate)
        if frame_samples % self.down:
            raise ValueError(f"frame of {frame_samples} samples is not a multiple of {self.down}")
        self.bank, _ = _design(self.up, self.down)
        taps = self.bank.shape[1]
        self.frame_samples = frame_samples
        self.out_samples = frame_samples * self.up // self.down
        self._history = np.zeros(taps - 1 + frame_samples, dtype=np.float32)
        t = np.arange(self.out_samples, dtype=np.int64) * self.down
        self._phase_bank = self.bank[t % self.up]
        self._starts = (t // self.up).astype(np.intp)
        self._windows = np.lib.stride_tricks.sliding_window_view(self._history, taps)
        self._out = np.empty(self.out_samples, dtype=np.float32)
        self._scratch = np.empty((self.out_samples, taps), dtype=np.float32)

    def process(self, frame: np.ndarray) -> np.ndarray:
        """Resample one frame; the returned array is reused by the next call."""
        keep = self._history.size - self.frame_samples
        self._history[:keep] = self._history[self.frame_samples :]
        self._history[keep:] = frame
        np.take(self._windows, self._starts, axis=0, out=self._scratch)
        np.multiply(self._scratch, self._phase_bank, out=self._scratch)
        np.sum(self._scratch, axis=1, out=self._out)
        return self._out
