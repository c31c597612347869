"""On-disk cache of synthesised prompts, keyed by text, voice and cache version.

Fixed prompts are rendered once (``prerender``) so no prompt waits on synthesis during a call.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE
from ..audio.wavio import read_wav, to_int16, write_wav
from .tts import Synthesizer

CACHE_VERSION = 1


class PromptCache:
    def __init__(self, synthesizer: Synthesizer, directory: str | Path | None) -> None:
        self.synthesizer = synthesizer
        self.directory = Path(directory) if directory else None
        self._memory: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def key(self, text: str) -> str:
        raw = f"{CACHE_VERSION}|{self.synthesizer.voice_id}|{text}".encode()
        return hashlib.sha256(raw).hexdigest()[:32]

    def get(self, text: str, cache: bool = True) -> np.ndarray:
        """int16 audio at 16 kHz for ``text``; ``cache=False`` for per-call text (names)."""
        if not cache:
            return to_int16(self.synthesizer.synthesize(text))
        key = self.key(text)
        with self._lock:
            hit = self._memory.get(key)
        if hit is not None:
            self.hits += 1
            return hit
        path = self.directory / f"{key}.wav" if self.directory else None
        if path is not None and path.exists():
            audio = to_int16(read_wav(path, SAMPLE_RATE)[0])
            self.hits += 1
        else:
            audio = to_int16(self.synthesizer.synthesize(text))
            self.misses += 1
            if path is not None:
                self._store(path, audio)
        with self._lock:
            self._memory[key] = audio
        return audio

    def _store(self, path: Path, audio: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        write_wav(tmp, audio, SAMPLE_RATE)
        os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file

    def prerender(self, texts: list[str]) -> int:
        """Synthesise every text not yet cached; returns how many were rendered."""
        before = self.misses
        for text in texts:
            self.get(text)
        return self.misses - before
