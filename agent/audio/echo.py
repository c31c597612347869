"""Is what the caller's side sends just the echo of our own prompt?

A line or acoustic echo is a delayed, attenuated, filtered copy of what the agent played. At the moment
speech seems to start while a prompt plays, the last 200 ms of caller audio are correlated against the
last 800 ms the agent played, both band-limited to the telephone band (300–3400 Hz), at every delay.
A peak of normalised correlation near 1 means echo; the caller's own voice, even over the echo, is
independent of the prompt and keeps the peak low. Runs only at such moments, never per frame.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfilt

from . import SAMPLE_RATE

_BAND = butter(4, [300, 3400], btype="bandpass", fs=SAMPLE_RATE, output="sos")


def echo_likeness(caller: np.ndarray, agent: np.ndarray) -> float:
    """Peak normalised cross-correlation (0..1) of ``caller`` against any same-length stretch of
    ``agent`` that ends no later than the caller audio (both at 16 kHz, same time base, ``agent``
    longer than ``caller``)."""
    c = sosfilt(_BAND, np.asarray(caller, dtype=np.float64))
    a = sosfilt(_BAND, np.asarray(agent, dtype=np.float64))
    n, m = len(c), len(a)
    if n == 0 or m < n:
        return 0.0
    c_norm = float(np.sqrt(np.dot(c, c)))
    if c_norm < 1e-9:
        return 0.0
    size = 1 << int(np.ceil(np.log2(n + m)))
    corr = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(c, size)), size)[: m - n + 1]
    energy = np.cumsum(np.concatenate([[0.0], a * a]))
    window_norm = np.sqrt(np.maximum(energy[n:] - energy[: m - n + 1], 0.0))
    # Stretches where the agent was (nearly) silent cannot explain the caller audio.
    valid = window_norm > 1e-3 * c_norm + 1e-9
    if not valid.any():
        return 0.0
    return float(np.max(np.abs(corr[valid]) / (window_norm[valid] * c_norm)))


def looks_like_echo(caller: np.ndarray, agent: np.ndarray, threshold: float = 0.8,
                    quiet_threshold: float = 0.5, erl_db: float = 6.0) -> tuple[bool, float]:
    """(echo?, correlation). Echo when the correlation reaches ``threshold``, or ``quiet_threshold``
    while the caller side is no louder than our audio less ``erl_db`` of echo return loss (the Geigel
    double-talk rule: a person talking over a prompt is louder than its echo)."""
    score = echo_likeness(caller, agent)
    if score >= threshold:
        return True, score
    caller_rms = float(np.sqrt(np.mean(np.square(caller, dtype=np.float64)))) if len(caller) else 0.0
    agent_rms = float(np.sqrt(np.mean(np.square(agent, dtype=np.float64)))) if len(agent) else 0.0
    quiet = caller_rms < agent_rms * 10 ** (-erl_db / 20)
    return score >= quiet_threshold and quiet, score
