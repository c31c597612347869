"""Endpointing: webrtcvad decisions per 20 ms frame turned into speech start / end.

Speech starts when ``start_frames`` of the last ``start_window`` frames are voiced, and ends after
``hangover_ms`` of unvoiced frames (or at ``max_utterance_ms``). With ``pause_ms`` set, a shorter
silence first reports ``PAUSED`` (once per silence), so a closed answer can be recognised while the
hang-over runs and taken early when it is unambiguous (``end_now``); with ``ahead_ms`` set, an
even shorter one reports ``QUIET``, when that recognition may begin. The utterance, with a short
pre-roll, is kept in a preallocated buffer.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

import _webrtcvad  # the C module behind webrtcvad.Vad, called directly: one Python frame less per 20 ms
import numpy as np

from ..audio import FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE
from ..audio.spectrum import flatness, power_spectrum


KEPT_SILENCE_MS = 200  # silence after the last voiced frame that an ended utterance keeps


@dataclass(frozen=True)
class EndpointConfig:
    aggressiveness: int = 2
    start_frames: int = 3
    start_window: int = 5
    hangover_ms: int = 700
    pause_ms: int = 0               # report PAUSED after this much silence (0: never)
    ahead_ms: int = 0               # report QUIET after this much (less than ``pause_ms``): recognition may begin
    min_speech_ms: int = 120
    max_utterance_ms: int = 12000
    preroll_ms: int = 200
    min_level_dbfs: float = -50.0  # quieter frames are never speech (line hiss, comfort noise)
    max_flatness: float = 0.45     # flatter spectra are hiss, whatever webrtcvad thinks


class Endpoint(Enum):
    STARTED = "started"
    QUIET = "quiet"     # silent for ``ahead_ms``: the answer may be complete, worth recognising already
    PAUSED = "paused"   # still in speech, but silent for ``pause_ms``: the answer may be complete
    ENDED = "ended"


class Endpointer:
    """Feed 20 ms int16 frames at 16 kHz; get ``Endpoint.STARTED`` / ``PAUSED`` / ``ENDED``."""

    def __init__(self, config: EndpointConfig | None = None) -> None:
        self.config = config or EndpointConfig()
        self._vad = _webrtcvad.create()
        _webrtcvad.init(self._vad)
        _webrtcvad.set_mode(self._vad, self.config.aggressiveness)
        max_samples = (self.config.max_utterance_ms + self.config.preroll_ms) * SAMPLE_RATE // 1000
        self._buffer = np.zeros(max_samples + FRAME_SAMPLES, dtype=np.int16)
        self._preroll_frames = self.config.preroll_ms // FRAME_MS
        self._recent = np.zeros((max(self._preroll_frames, 1), FRAME_SAMPLES), dtype=np.int16)  # pre-roll ring
        self._recent_count = 0
        self._window: deque[bool] = deque(maxlen=self.config.start_window)
        self._min_power = (10 ** (self.config.min_level_dbfs / 20) * 32768.0) ** 2
        self._scratch = np.zeros(FRAME_SAMPLES, dtype=np.float32)
        self.reset()

    def reset(self, config: EndpointConfig | None = None) -> None:
        """Forget any speech in progress; optionally switch to new timings (same aggressiveness)."""
        if config is not None:
            self.config = config
        self.in_speech = False
        self._length = 0
        self._silent_ms = 0
        self._speech_ms = 0
        self.voiced_frames = 0   # voiced frames in the current utterance: unchanged means nothing new said
        self._window.clear()
        self._recent_count = 0

    def is_voiced(self, frame: np.ndarray, check_flatness: bool = True, power: float | None = None) -> bool:
        """Whether webrtcvad hears speech in ``frame`` (above the level gate; with ``check_flatness``,
        not hiss). ``power``: the frame's mean square when the caller has it already."""
        if power is None:
            scratch = self._scratch if len(frame) == FRAME_SAMPLES else np.empty(len(frame), np.float32)
            scratch[:] = frame
            power = float(np.dot(scratch, scratch)) / len(frame)
        if power < self._min_power:
            return False
        if not frame.flags.c_contiguous:
            frame = np.ascontiguousarray(frame)
        if not _webrtcvad.process(self._vad, SAMPLE_RATE, frame, len(frame)):
            return False
        return not check_flatness or flatness(power_spectrum(frame)) < self.config.max_flatness

    def _append(self, frame: np.ndarray) -> None:
        end = self._length + len(frame)
        if end <= self._buffer.size:
            self._buffer[self._length : end] = frame
            self._length = end

    def process(self, frame: np.ndarray, power: float | None = None) -> Endpoint | None:
        """One contiguous 20 ms int16 frame (``power``: its mean square, if already known)."""
        voiced = self.is_voiced(frame, check_flatness=False, power=power)
        if not self.in_speech:
            if voiced and sum(self._window) + 1 >= self.config.start_frames:
                # This frame would start an utterance: hiss that webrtcvad takes for speech must not
                # (the spectrum is computed only here, not for every voiced frame).
                voiced = flatness(power_spectrum(frame)) < self.config.max_flatness
            self._window.append(voiced)
            slots = len(self._recent)
            self._recent[self._recent_count % slots, : len(frame)] = frame
            self._recent_count += 1
            if sum(self._window) >= self.config.start_frames:
                self.in_speech = True
                self._length = 0
                kept = min(self._recent_count, slots)
                for k in range(self._recent_count - kept, self._recent_count):
                    self._append(self._recent[k % slots, : len(frame)])
                self._speech_ms = FRAME_MS * kept
                self._silent_ms = 0
                self.voiced_frames = sum(self._window)
                return Endpoint.STARTED
            return None
        self._append(frame)
        self._speech_ms += FRAME_MS
        if voiced:
            self._silent_ms = 0
            self.voiced_frames += 1
        else:
            self._silent_ms += FRAME_MS
        if self._silent_ms >= self.config.hangover_ms or self._speech_ms >= self.config.max_utterance_ms:
            self.end_now()
            return Endpoint.ENDED
        if self.config.pause_ms and self._silent_ms == self.config.pause_ms:
            return Endpoint.PAUSED
        if self.config.ahead_ms and self._silent_ms == self.config.ahead_ms:
            return Endpoint.QUIET
        return None

    def end_now(self) -> None:
        """Close the utterance in progress (``utterance()`` still returns it)."""
        self.in_speech = False
        self._window.clear()
        self._recent_count = 0

    @property
    def samples(self) -> int:
        """Samples of the current utterance buffered so far (pre-roll included)."""
        return self._length

    def pcm(self, start: int = 0) -> np.ndarray:
        """The utterance's int16 samples from ``start`` on: a view, valid until the next frame."""
        return self._buffer[start : self._length]

    @property
    def speech_ms(self) -> int:
        return self._speech_ms - self._silent_ms

    def utterance(self) -> np.ndarray:
        """The last utterance (pre-roll included, trailing silence trimmed to ``KEPT_SILENCE_MS``) as float32."""
        keep = max(0, self._length - max(0, self._silent_ms - KEPT_SILENCE_MS) * SAMPLE_RATE // 1000)
        return self._buffer[:keep].astype(np.float32) / 32768.0
