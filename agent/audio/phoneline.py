"""A telephone line in numpy: 300–3400 Hz band, 8 kHz, G.711, optional noise and lost frames.

Used to make test fixtures, the demo caller and the evaluation sets from clean synthetic speech.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfilt

from . import g711
from .plc import LossConcealer
from .resample import resample


def phone_line(audio: np.ndarray, rate: int, *, codec: str = "ulaw", snr_db: float | None = None,
               loss: float = 0.0, conceal: bool = False, seed: int = 0, out_rate: int = 8000) -> np.ndarray:
    """Pass ``audio`` (float32 at ``rate``) through a narrow-band phone channel.

    ``snr_db`` adds white-ish noise at that signal-to-noise ratio (measured on the speech);
    ``loss`` drops that fraction of 20 ms frames: zeros, as a jitter buffer with no concealment, or
    with ``conceal`` the pitch-repetition concealment of a receiver that has it.
    Returns float32 at ``out_rate``.
    """
    rng = np.random.default_rng(seed)
    x = resample(audio, rate, 8000)
    sos = butter(4, [300, 3400], btype="bandpass", fs=8000, output="sos")
    x = sosfilt(sos, x).astype(np.float32)
    peak = float(np.max(np.abs(x))) or 1.0
    x *= 0.5 / peak  # line level about -6 dBFS peak
    if snr_db is not None:
        speech = x[np.abs(x) > 0.02]
        power = float(np.mean(speech**2)) if speech.size else float(np.mean(x**2))
        noise = rng.standard_normal(x.size).astype(np.float32)
        noise = sosfilt(sos, noise).astype(np.float32)
        noise *= np.sqrt(power / 10 ** (snr_db / 10) / max(float(np.mean(noise**2)), 1e-12))
        x = x + noise
    if codec == "ulaw":
        x = g711.mulaw_decode(g711.mulaw_encode(_to_int16(x))).astype(np.float32) / 32768.0
    elif codec == "alaw":
        x = g711.alaw_decode(g711.alaw_encode(_to_int16(x))).astype(np.float32) / 32768.0
    if loss > 0:
        frame = 160
        plc = LossConcealer(8000, frame) if conceal else None
        for start in range(0, x.size - frame + 1, frame):
            chunk = x[start : start + frame]
            if rng.random() < loss:
                plc.missing(chunk) if plc else chunk.fill(0.0)
            elif plc:
                plc.received(chunk)
    return x if out_rate == 8000 else resample(x, 8000, out_rate)


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
