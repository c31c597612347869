"""Packet-loss concealment for missing 20 ms frames, in the spirit of ITU-T G.711 Appendix I.

A lost frame is replaced by repeating the last pitch period of the received signal (period found by
normalised autocorrelation, 2.5–15 ms), at full level for the first 10 ms of a loss, then fading by 20 %
every 10 ms to silence after 60 ms. The first frame received after a loss is cross-faded from the
synthetic continuation, so neither edge clicks. Works at any rate and frame size; nothing is
allocated per received frame.

pjmedia already conceals losses on its RTP streams; this is for transports and simulations that hand
the session a gap (``CallSession.push_lost``, ``phone_line(..., conceal=True)``).
"""

from __future__ import annotations

import numpy as np

from .ringbuffer import AudioHistory


class LossConcealer:
    def __init__(self, rate: int, frame: int, min_pitch_ms: float = 2.5, max_pitch_ms: float = 15.0,
                 full_level_ms: float = 10.0, fade_ms: float = 50.0, crossfade_ms: float = 4.0,
                 dtype: type = np.float32) -> None:
        self.rate = rate
        self.frame = frame
        self.min_lag = int(rate * min_pitch_ms / 1000)
        self.max_lag = int(rate * max_pitch_ms / 1000)
        self.corr_window = int(rate * 0.010)
        # Kept in the frames' own type: remembering a received frame is one plain copy.
        self.history = AudioHistory(self.max_lag + self.corr_window + frame, dtype)
        self.full_level = int(rate * full_level_ms / 1000)
        self.fade = int(rate * fade_ms / 1000)
        self.crossfade = min(frame, int(rate * crossfade_ms / 1000))
        self._ramp = np.linspace(0.0, 1.0, self.crossfade + 2, dtype=np.float32)[1:-1]
        self._period: np.ndarray | None = None
        self._phase = 0
        self._lost_samples = 0
        self.frames_concealed = 0

    @property
    def concealing(self) -> bool:
        return self._period is not None

    def received(self, frame: np.ndarray) -> np.ndarray:
        """A frame that arrived (modified in place when it follows a loss). Returns it."""
        if self._period is not None:
            tail = self._synthesize(self.crossfade).astype(np.float32)
            head = frame[: self.crossfade].astype(np.float32)
            mixed = tail * (1.0 - self._ramp) + head * self._ramp
            frame[: self.crossfade] = np.round(mixed).astype(frame.dtype) if frame.dtype.kind == "i" else mixed
            self._period = None
            self._lost_samples = 0
        self.history.push(frame)
        return frame

    def missing(self, out: np.ndarray) -> np.ndarray:
        """Fill ``out`` (one frame) with the concealment of a lost frame. Returns it."""
        if self._period is None:
            lag = self._pitch_lag()
            self._period = self.history.latest(lag).astype(np.float32)
            self._phase = 0
        audio = self._synthesize(len(out))
        if out.dtype.kind == "i":
            info = np.iinfo(out.dtype)
            out[:] = np.clip(np.round(audio), info.min, info.max)
        else:
            out[:] = audio
        self.history.push(out)
        self.frames_concealed += 1
        return out

    def _pitch_lag(self) -> int:
        """The lag (samples) with the highest normalised correlation between the last 10 ms and
        the 10 ms before it, within the pitch range."""
        h = self.history.latest().astype(np.float64)
        w = self.corr_window
        target = h[-w:]
        lags = np.arange(self.min_lag, self.max_lag + 1)
        windows = np.lib.stride_tricks.sliding_window_view(h[: len(h) - self.min_lag], w)
        # windows[i] starts at i; lag L means the window starting at len(h) - w - L.
        candidates = windows[len(h) - w - lags]
        energy = np.einsum("ij,ij->i", candidates, candidates) + 1e-9
        corr = candidates @ target
        score = np.where(corr > 0, corr * corr / energy, -1.0)
        return int(lags[int(np.argmax(score))])

    def _synthesize(self, n: int) -> np.ndarray:
        """The next ``n`` samples of the periodic continuation, with the loss-length fade applied."""
        period = self._period
        assert period is not None
        idx = (self._phase + np.arange(n)) % len(period)
        self._phase = (self._phase + n) % len(period)
        since = self._lost_samples + np.arange(n)
        gain = np.clip(1.0 - (since - self.full_level) / self.fade, 0.0, 1.0).astype(np.float32)
        self._lost_samples += n
        return period[idx] * gain
