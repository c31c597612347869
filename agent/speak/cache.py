"""On-disk cache of synthesised prompts, keyed by text, voice and cache version.

Every sentence is made phone-ready (``phone_ready``: telephone band, one level, no clipping, fades)
here, the one place audio leaves the synthesizer. Fixed prompts are rendered once (``prerender``, at
set-up) so no prompt waits on synthesis during a call. Sentences naming the customer are never
stored on disk: they are synthesised per call, and ``prepare`` starts them in the background while
the phone rings so the session finds them made.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE
from ..audio.wavio import read_wav, to_int16, write_wav
from .normalize import normalize_for_speech
from .phone_ready import phone_ready
from .tts import Synthesizer

# 2: audio made phone-ready (band, level, limiter, fades) before it is cached; 3: text written out
# for speech first (``normalize_for_speech``). Bump it when either changes what a text sounds like.
CACHE_VERSION = 3
PREPARED_LIMIT = 256  # per-call sentences kept in memory (a few calls' greetings and topics)


class PromptCache:
    def __init__(self, synthesizer: Synthesizer, directory: str | Path | None) -> None:
        self.synthesizer = synthesizer
        self.directory = Path(directory) if directory else None
        self._memory: dict[str, np.ndarray] = {}
        self._prepared: OrderedDict[str, Future] = OrderedDict()  # per-call text → its audio
        self._lock = threading.Lock()
        self._worker: ThreadPoolExecutor | None = None
        self.hits = self.misses = 0

    def key(self, text: str) -> str:
        raw = f"{CACHE_VERSION}|{self.synthesizer.voice_id}|{text}".encode()
        return hashlib.sha256(raw).hexdigest()[:32]

    def render(self, text: str) -> np.ndarray:
        """``text`` written out as said («a las 17:30» → «a las cinco y media de la tarde»),
        synthesised now and made phone-ready: int16 at 16 kHz (nothing cached)."""
        return to_int16(phone_ready(self.synthesizer.synthesize(normalize_for_speech(text))))

    def get(self, text: str, cache: bool = True) -> np.ndarray:
        """int16 audio at 16 kHz for ``text``; ``cache=False`` for per-call text (names), which is
        taken from ``prepare`` when it was started there (waiting for it if still in progress)."""
        if not cache:
            with self._lock:
                pending = self._prepared.get(text)
            return pending.result() if pending is not None else self.render(text)
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
            audio = self.render(text)
            self.misses += 1
            if path is not None:
                self._store(path, audio)
        with self._lock:
            self._memory[key] = audio
        return audio

    def prepare(self, texts: list[str]) -> list[Future]:
        """Start synthesising per-call ``texts`` on a background thread (one, so preparing never takes
        more than one core from the calls in progress); ``get(text, cache=False)`` then returns them.
        Kept in memory only, the last ``PREPARED_LIMIT`` of them."""
        futures = []
        with self._lock:
            if self._worker is None:
                self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prompt-prepare")
            for text in texts:
                future = self._prepared.get(text)
                if future is None or (future.done() and future.exception() is not None):
                    future = self._worker.submit(self.render, text)
                    self._prepared[text] = future
                self._prepared.move_to_end(text)
                futures.append(future)
            while len(self._prepared) > PREPARED_LIMIT:
                self._prepared.popitem(last=False)
        return futures

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
