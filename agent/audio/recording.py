"""``CallRecording``: both sides of a call, frame by frame, until the caller asks not to be recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import FRAME_SAMPLES, SAMPLE_RATE
from .wavio import write_wav


class CallRecording:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._agent: list[np.ndarray] = []
        self._caller: list[np.ndarray] = []

    def agent(self, frame: np.ndarray) -> None:
        """One 20 ms frame we sent (copied: the caller reuses its buffer)."""
        if self.enabled:
            self._agent.append(frame.copy())

    def caller(self, frame: np.ndarray) -> None:
        """One 20 ms frame the caller sent (or its concealment), as int16."""
        if self.enabled:
            self._caller.append(np.array(frame, dtype=np.int16, copy=True))

    def stop(self) -> None:
        """Nothing of the call is kept: what was recorded so far is dropped, and nothing more is."""
        self.enabled = False
        self._agent, self._caller = [], []

    def conversation(self) -> np.ndarray:
        """Stereo int16: agent on the left, caller on the right, aligned frame by frame."""
        n = max(len(self._agent), len(self._caller))
        stereo = np.zeros((n * FRAME_SAMPLES, 2), dtype=np.int16)
        for i, f in enumerate(self._agent):
            stereo[i * FRAME_SAMPLES : i * FRAME_SAMPLES + len(f), 0] = f
        for i, f in enumerate(self._caller):
            stereo[i * FRAME_SAMPLES : i * FRAME_SAMPLES + len(f), 1] = f
        return stereo

    def write(self, path: str | Path) -> Path:
        return write_wav(path, self.conversation(), SAMPLE_RATE)
