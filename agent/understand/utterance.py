"""Understanding a whole recording (``encuestador understand``): find the speech, then decide."""

from __future__ import annotations

import numpy as np

from ..audio import FRAME_SAMPLES
from ..dialogue.script import Question
from ..listen.asr import Transcript
from ..listen.vad import Endpoint, EndpointConfig, Endpointer
from .decide import Understander
from .parser import Understanding


def speech_span(audio: np.ndarray, config: EndpointConfig | None = None) -> np.ndarray | None:
    """The audio from the first detected speech to the last (with pre-roll), or None if silent."""
    endpointer = Endpointer(config or EndpointConfig(hangover_ms=400, max_utterance_ms=60000))
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
    first = last = None
    preroll = endpointer.config.preroll_ms * 16
    for i in range(0, len(pcm) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        event = endpointer.process(pcm[i : i + FRAME_SAMPLES])
        if event is Endpoint.STARTED and first is None:
            first = max(0, i - preroll)
        if endpointer.in_speech or event is Endpoint.ENDED:
            last = i + FRAME_SAMPLES
    if first is None:
        return None
    return audio[first : min(len(audio), (last or len(audio)) + 3200)]


def understand_file(understander: Understander, audio: np.ndarray,
                    question: Question) -> tuple[Understanding, Transcript | None]:
    span = speech_span(audio)
    if span is None:
        return Understanding("silence", confidence=1.0), None
    return understander.understand(span, question)
