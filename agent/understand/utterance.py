"""Understanding a whole recording (``encuestador understand``): find the speech, then decide."""

from __future__ import annotations

import numpy as np

from ..audio import FRAME_SAMPLES, SAMPLE_RATE
from ..dialogue.script import Question
from ..listen.asr import Transcript
from ..listen.turns import recognised_silence_ms
from ..listen.vad import Endpoint, EndpointConfig, Endpointer
from .decide import Understander
from .parser import Understanding


def speech_span(audio: np.ndarray, question: Question | None = None,
                config: EndpointConfig | None = None) -> np.ndarray | None:
    """The audio a call would recognise as the answer to ``question``: from the first detected speech
    (with pre-roll) to as much silence after the last voiced frame as the turn-taker passes on
    (``recognised_silence_ms``). None if nothing is said."""
    endpointer = Endpointer(config or EndpointConfig(hangover_ms=400, max_utterance_ms=60000))
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
    first = voiced_end = None
    preroll = endpointer.config.preroll_ms * 16
    for i in range(0, len(pcm) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        voiced = endpointer.voiced_frames
        event = endpointer.process(pcm[i : i + FRAME_SAMPLES])
        if event is Endpoint.STARTED and first is None:
            first = max(0, i - preroll)
        if event is Endpoint.STARTED or (endpointer.in_speech and endpointer.voiced_frames > voiced):
            voiced_end = i + FRAME_SAMPLES
    if first is None or voiced_end is None:
        return None
    return audio[first : voiced_end + recognised_silence_ms(question) * SAMPLE_RATE // 1000]


def understand_file(understander: Understander, audio: np.ndarray,
                    question: Question) -> tuple[Understanding, Transcript | None]:
    span = speech_span(audio, question)
    if span is None:
        return Understanding("silence", confidence=1.0), None
    return understander.understand(span, question)
