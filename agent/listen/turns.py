"""Turn-taking: when a caller's turn ends, and WHICH question it answers.

``TurnTaker`` owns the endpointer and the recognition of the answer in progress (a streaming
recogniser fed while the caller speaks, a guess at the first pause that is taken at once when it is
unambiguous). It knows one rule the rest of the call relies on: a caller cannot answer a question he
has not heard yet. Speech that starts before the caller has heard ``continuation_ms`` of the agent's
reply (or while no reply has played) is the previous answer going on — «Sí… claro», «Cuatro… no,
cinco» — and is decided again, as the previous question, on the previous answer and the new speech
joined. The dialogue then confirms or corrects what it stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..audio import SAMPLE_RATE
from ..audio.level import utterance_snr_db
from ..dialogue.script import Question
from ..understand.decide import PendingUnderstanding, Understander
from ..understand.parser import Understanding
from .asr import RecognitionStream, Transcript
from .vad import KEPT_SILENCE_MS, Endpoint, EndpointConfig, Endpointer

STREAM_CHUNK_SAMPLES = SAMPLE_RATE // 10  # a streaming recogniser is fed every 100 ms of speech
JOIN_GAP_SAMPLES = SAMPLE_RATE * 3 // 10  # silence put between the parts of a continued answer


@dataclass(frozen=True)
class TurnConfig:
    # Closed answers are recognised from 100 ms into a silence (in the background, while the caller's
    # frames go on), decided at 200 ms and taken then when accepted; otherwise the 450 ms hang-over
    # ends the turn, reusing that recognition when nothing more was said.
    closed: EndpointConfig = EndpointConfig(hangover_ms=450, pause_ms=200, ahead_ms=100, max_utterance_ms=8000)
    free: EndpointConfig = EndpointConfig(hangover_ms=1200, max_utterance_ms=25000)
    # Speech that starts before the caller heard this much of our reply continues the previous answer.
    continuation_ms: int = 1000
    # ... and only this soon after the previous answer ended (a reply that never plays must not
    # keep the window open).
    continuation_max_gap_ms: int = 3000


def recognised_silence_ms(question: Question | None, config: TurnConfig | None = None) -> int:
    """How much silence after the last voiced frame the recognition of an answer hears: a closed
    answer is recognised as the silence reaches ``ahead_ms``, anything else when the hang-over ends,
    with the silence trimmed to ``KEPT_SILENCE_MS``."""
    closed = (config or TurnConfig()).closed
    if question is not None and question.kind != "free" and closed.ahead_ms:
        return closed.ahead_ms
    return KEPT_SILENCE_MS


@dataclass
class Turn:
    """A finished caller turn: the question it answers and what was understood."""

    question: Question
    understanding: Understanding
    transcript: Transcript
    early: bool           # taken at a pause, before the hang-over ended
    continues: bool       # the previous answer, said on: decided again on the joined audio
    speech_ms: int
    audio: np.ndarray = field(repr=False)   # float32, the whole answer (both parts when continued)
    recognized_at_ms: int = 0  # when its recognition began: at the pause, when reused at the hang-over


@dataclass(frozen=True)
class SpeechStart:
    """Caller speech began; ``continues`` when it is the previous answer going on."""

    continues: bool


class TurnTaker:
    """Feed caller frames with the question the dialogue awaits; get ``SpeechStart`` and ``Turn``."""

    def __init__(self, understander: Understander, config: TurnConfig | None = None) -> None:
        self.understander = understander
        self.config = config or TurnConfig()
        self.endpointer = Endpointer(self.config.closed)
        self._question: Question | None = None   # what the speech in progress answers
        self._continues = False
        self._previous: Turn | None = None        # the last turn, while it may still go on
        self._previous_end_ms = 0
        self._speculation: tuple[int, Understanding, Transcript, int] | None = None  # heard at a pause (and when)
        self._ahead: tuple[int, PendingUnderstanding, int] | None = None  # being recognised since a silence began
        self._stream: RecognitionStream | None = None  # the answer being recognised as it is spoken
        self._streamed = 0                              # utterance samples fed to it

    @property
    def in_speech(self) -> bool:
        return self.endpointer.in_speech

    @property
    def continuing(self) -> bool:
        """The speech in progress continues the previous answer."""
        return self.endpointer.in_speech and self._continues

    def listen(self, question: Question | None) -> None:
        """The dialogue now awaits ``question``: new timings, and any recognition of the old one dropped.
        Speech already in progress goes on as the answer it started as."""
        if self.endpointer.in_speech:
            return
        if question is not None:
            self.endpointer.reset(self.config.free if question.kind == "free" else self.config.closed)
        self._stream = None

    def forget(self) -> None:
        """A key or a time-out answered: drop the speech in progress and the chance to continue."""
        self.endpointer.reset()
        self._stream, self._speculation, self._ahead, self._previous = None, None, None, None

    def drop_speech(self) -> None:
        """The speech that just started was not the caller (our own echo)."""
        self.endpointer.reset()
        self._stream, self._ahead = None, None

    def process(self, frame: np.ndarray, power: float | None, awaiting: Question | None, now_ms: int,
                heard_ms: int) -> SpeechStart | Turn | None:
        """One 20 ms frame. ``awaiting``: the dialogue's open question; ``heard_ms``: how much of the
        agent's reply to the last turn the caller has heard."""
        endpoint = self.endpointer.process(frame, power)
        if endpoint is None:
            if self._stream is not None or self._speculation is not None:
                self._feed_stream()
            return None
        if endpoint is Endpoint.STARTED:
            return self._started(awaiting, now_ms, heard_ms)
        question = self._question
        if question is None:
            return None
        if endpoint is Endpoint.QUIET:
            if question.kind != "free" and self._stream is None:
                self._ahead = (self.endpointer.voiced_frames, self.understander.begin(self._audio_so_far(), question), now_ms)
            return None
        if endpoint is Endpoint.PAUSED:
            if question.kind == "free":
                return None
            understanding, transcript, began = self._recognize(question, now_ms)
            self._speculation = (self.endpointer.voiced_frames, understanding, transcript, began)
            if self.understander.decisive(understanding, question):
                self.endpointer.end_now()
                return self._ended(now_ms, early=True)
            return None
        return self._ended(now_ms, early=False)

    def _started(self, awaiting: Question | None, now_ms: int, heard_ms: int) -> SpeechStart:
        previous = self._previous
        self._continues = (previous is not None and heard_ms < self.config.continuation_ms
                           and now_ms - self._previous_end_ms <= self.config.continuation_max_gap_ms)
        self._question = previous.question if self._continues and previous else awaiting
        self._previous = None if not self._continues else previous
        self._speculation, self._ahead = None, None
        self._streamed = 0
        self._stream = (self.understander.stream(self._question)
                        if self._question is not None and not self._continues else None)
        return SpeechStart(self._continues)

    def _ended(self, now_ms: int, early: bool) -> Turn:
        question = self._question
        assert question is not None
        speculation, self._speculation = self._speculation, None
        if speculation is not None and speculation[0] == self.endpointer.voiced_frames:
            _, understanding, transcript, recognized_at = speculation  # nothing said since the pause
        else:
            understanding, transcript, recognized_at = self._recognize(question, now_ms)
        turn = Turn(question, understanding, transcript, early, self._continues, self.endpointer.speech_ms,
                    self._answer_audio(), recognized_at)
        self._previous, self._previous_end_ms = turn, now_ms
        self._question, self._continues = None, False
        return turn

    def _audio_so_far(self) -> np.ndarray:
        """What a recognition of the answer so far hears: the answer, or both parts when it continues."""
        return self._answer_audio() if self._continues else self.endpointer.utterance()

    def _answer_audio(self) -> np.ndarray:
        """The answer so far: this utterance, after the previous answer when it continues that."""
        audio = self.endpointer.utterance()
        if self._continues and self._previous is not None:
            audio = np.concatenate([self._previous.audio, np.zeros(JOIN_GAP_SAMPLES, np.float32), audio])
        return audio

    def _feed_stream(self) -> None:
        """Recognise the answer while it is spoken (a streaming recogniser): feed it every 100 ms.
        When the caller goes on after a pause was recognised, a new stream catches up first."""
        endpointer = self.endpointer
        if not endpointer.in_speech or self._continues:
            return
        if self._stream is None:
            question = self._question
            if question is None or self._speculation is None or self._speculation[0] == endpointer.voiced_frames:
                return
            self._stream, self._streamed = self.understander.stream(question), 0
            if self._stream is None:
                self._speculation = None  # a recogniser without streams: nothing to catch up
                return
        if endpointer.samples - self._streamed >= STREAM_CHUNK_SAMPLES:
            self._stream.feed(endpointer.pcm(self._streamed))
            self._streamed = endpointer.samples

    def _recognize(self, question: Question, now_ms: int) -> tuple[Understanding, Transcript, int]:
        """The utterance so far, understood, and when its recognition began: the one begun when this
        silence started (nothing said since), the stream's last chunk and result, or all of it now —
        (a continued answer) the previous answer and this one joined."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == self.endpointer.voiced_frames:
            return (*ahead[1].result(), ahead[2])
        stream, self._stream = self._stream, None
        if stream is None or self._continues:
            return (*self.understander.understand(self._audio_so_far(), question), now_ms)
        stream.feed(self.endpointer.pcm(self._streamed))
        transcript = stream.result()
        transcript.snr_db = utterance_snr_db(self.endpointer.utterance())
        return self.understander.decide(transcript, question), transcript, now_ms
