"""``Playback``: what one call says next, from sentences to the frames the transport sends.

Sentences wait unsynthesised until less than ``speak_ahead_ms`` of audio is queued (the first plays
while the next is made); queued audio sits in a preallocated ring buffer that ``pull`` reads on the
media thread without ever waiting; and every queued sample is known to belong to one prompt
(``Segment``), so barge-in can tell what is playing and cut it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..audio import SAMPLE_RATE
from ..audio.ringbuffer import RingBuffer
from .cache import PromptCache
from .sentences import split_sentences


@dataclass
class Segment:
    """One prompt's stretch of the playback, in samples ever queued."""
    start: int
    end: int
    prompt: str
    interruptible: bool


@dataclass
class _Pending:
    text: str | None      # a sentence to synthesise, or None for a tune
    prompt: str
    interruptible: bool
    tune: str | None = None


class Playback:
    def __init__(self, prompts: PromptCache, tunes: dict[str, np.ndarray], names_customer: Callable[[str], bool],
                 seconds: int = 120, speak_ahead_ms: int = 1500) -> None:
        self.prompts = prompts
        self._tunes = tunes
        self._names_customer = names_customer  # sentences naming the customer are never cached
        self._buffer = RingBuffer(SAMPLE_RATE * seconds)
        self._ahead = speak_ahead_ms * SAMPLE_RATE // 1000
        self.queued = 0       # samples ever queued
        self.played = 0       # samples ever handed to the transport
        self._segments: deque[Segment] = deque()
        self._to_speak: deque[_Pending] = deque()

    @property
    def busy(self) -> bool:
        """Audio queued for the caller, or sentences still to be synthesised."""
        return len(self._buffer) > 0 or bool(self._to_speak)

    @property
    def has_pending(self) -> bool:
        """Sentences (or tunes) not synthesised yet."""
        return bool(self._to_speak)

    def say(self, text: str, prompt: str, interruptible: bool) -> None:
        self._to_speak.extend(_Pending(sentence, prompt, interruptible) for sentence in split_sentences(text))

    def play_tune(self, tune: str) -> None:
        self._to_speak.append(_Pending(None, f"tune:{tune}", False, tune))

    def pull(self, frame: np.ndarray) -> None:
        """Fill ``frame`` with the next queued audio (silence when none). Never blocks."""
        self.played += self._buffer.read_into(frame)

    def speak_ahead(self) -> None:
        """Synthesise pending sentences until ``speak_ahead_ms`` of audio is queued. Fixed sentences come
        from the prompt cache; those naming the customer are synthesised for this call only."""
        while self._to_speak and len(self._buffer) < self._ahead:
            item = self._to_speak.popleft()
            if item.tune is not None:
                audio = self._tunes[item.tune]
            else:
                audio = self.prompts.get(item.text, cache=not self._names_customer(item.text))
            self._enqueue(audio, item.prompt, item.interruptible)

    def _enqueue(self, audio: np.ndarray, prompt: str, interruptible: bool) -> None:
        if len(audio) == 0:
            return
        self._buffer.write(audio)
        start = max(self.queued, self.played)
        self.queued = start + len(audio)
        self._segments.append(Segment(start, self.queued, prompt, interruptible))

    def current(self) -> Segment | None:
        """The prompt playing now (or next), or None when nothing is queued."""
        while self._segments and self._segments[0].end <= self.played:
            self._segments.popleft()
        return self._segments[0] if self._segments else None

    def played_ms(self, segment: Segment) -> int:
        """How much of ``segment`` has been handed to the transport."""
        return (self.played - segment.start) * 1000 // SAMPLE_RATE

    def cut(self, keep_uninterruptible: bool) -> None:
        """Drop the queued audio, and the sentences not yet synthesised (all of them, or all but the
        non-interruptible ones)."""
        self._buffer.clear()
        self.played = self.queued
        self._segments.clear()
        if keep_uninterruptible:
            self._to_speak = deque(item for item in self._to_speak if not item.interruptible)
        else:
            self._to_speak.clear()
