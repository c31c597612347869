"""Closed answers recognised at a pause: taken early when unambiguous, otherwise decided at the end
of the hang-over with the recognition already made (real faster-whisper, espeak-ng fixtures)."""

from __future__ import annotations

import numpy as np

from encuestador.audio import FRAME_MS, FRAME_SAMPLES
from encuestador.dialogue.survey import CustomerContext, SurveyDialogue
from encuestador.events import Heard, SpeechEnded
from encuestador.listen.vad import Endpoint, EndpointConfig, Endpointer
from encuestador.session import CallSession
from encuestador.understand.decide import Understander

SILENCE = np.zeros(FRAME_SAMPLES, np.int16)


class CountingRecognizer:
    """The real recogniser, counting the utterances it is given (``calls``; a second listen to the
    same utterance without the question's context and candidates is counted apart)."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.calls, self.second_listens = inner, inner.name, 0, 0

    def recognize(self, audio, hints):
        if hints.phrases:
            self.calls += 1
        else:
            self.second_listens += 1
        return self.inner.recognize(audio, hints)


def pcm(load_wav, path) -> np.ndarray:
    return np.clip(load_wav(path) * 32767, -32768, 32767).astype(np.int16)


def frames(audio: np.ndarray) -> list[np.ndarray]:
    audio = np.concatenate([audio, np.zeros((-len(audio)) % FRAME_SAMPLES, np.int16)])
    return [audio[i : i + FRAME_SAMPLES] for i in range(0, len(audio), FRAME_SAMPLES)]


def waiting_at(runtime, question: str, script=None, recognizer=None) -> tuple[CallSession, object]:
    """A session whose agent has asked ``question`` and gone quiet; its recogniser (by default the
    runtime's, counted) and script may be given."""
    script = script or runtime.script
    recognizer = recognizer or CountingRecognizer(runtime.recognizer)
    dialogue = SurveyDialogue(script, CustomerContext(company="Telecom del Norte", name="Ana"))
    session = CallSession(dialogue, Understander(recognizer, script), runtime.prompts,
                          runtime.options.session, tunes=runtime.tunes, record=False)
    session.start()
    for key in {"consent": "", "score": "1"}[question]:
        session.push_dtmf(key)
    while session.playing:
        session.pull_audio()
        session.push_audio(SILENCE)
    assert session.dialogue.awaiting.id == question
    return session, recognizer


def say(session: CallSession, audio: np.ndarray, then_silent_ms: int) -> None:
    for f in frames(audio) + [SILENCE] * (then_silent_ms // FRAME_MS):
        session.pull_audio()
        session.push_audio(f)


def test_endpointer_reports_each_pause_once_before_the_end(wavs, load_wav):
    audio = np.concatenate([pcm(load_wav, wavs["cinco"]), np.zeros(16000, np.int16)])
    for pause_ms, expect_pause in ((200, True), (0, False)):
        endpointer = Endpointer(EndpointConfig(hangover_ms=600, pause_ms=pause_ms))
        events = [(e, i * FRAME_MS) for i, f in enumerate(frames(audio)) if (e := endpointer.process(f))]
        kinds = [e for e, _ in events]
        assert kinds[0] is Endpoint.STARTED and kinds[-1] is Endpoint.ENDED and kinds.count(Endpoint.ENDED) == 1
        assert (Endpoint.PAUSED in kinds) is expect_pause
        if expect_pause:  # the last pause comes exactly hang-over − pause before the end
            last_pause = max(t for e, t in events if e is Endpoint.PAUSED)
            assert events[-1][1] - last_pause == 600 - 200


def pauses_and_end_ms(audio: np.ndarray, config: EndpointConfig) -> tuple[list[int], int]:
    """When the endpointer reports each pause, and when the hang-over would end the utterance."""
    endpointer = Endpointer(config)
    pauses = []
    for i, f in enumerate(frames(np.concatenate([audio, np.zeros(16000, np.int16)]))):
        event = endpointer.process(f)
        if event is Endpoint.PAUSED:
            pauses.append((i + 1) * FRAME_MS)
        elif event is Endpoint.ENDED:
            return pauses, (i + 1) * FRAME_MS
    raise AssertionError("no end")


def test_clear_answer_is_taken_at_the_pause(runtime, wavs, load_wav):
    session, recognizer = waiting_at(runtime, "score")
    before = len(session.events)
    started_at = session.now_ms
    say(session, pcm(load_wav, wavs["cuatro"]), then_silent_ms=1000)
    heard = [e for e in session.events[before:] if isinstance(e, Heard)]
    assert len(heard) == 1 and heard[0].intent == "score" and heard[0].slots == {"score": 4} and heard[0].early
    assert session.dialogue.result.score == 4
    # Taken at a silence of pause_ms (inside or after the word): the hang-over never ran out.
    pauses, ended_at = pauses_and_end_ms(pcm(load_wav, wavs["cuatro"]), runtime.options.session.turns.closed)
    assert heard[0].at_ms - started_at in pauses and heard[0].at_ms - started_at < ended_at
    assert recognizer.calls <= 2  # a pause inside the word may be recognised too, never the end again


def test_unclear_answer_waits_for_the_hang_over_and_reuses_the_recognition(runtime, wavs, load_wav):
    session, recognizer = waiting_at(runtime, "score")
    before = len(session.events)
    say(session, pcm(load_wav, wavs["si"]), then_silent_ms=1000)  # "sí" is no clear score (heard as "C")
    heard = [e for e in session.events[before:] if isinstance(e, Heard)]
    assert len(heard) == 1 and not heard[0].early
    assert recognizer.calls == 1  # recognised at the pause; the end of the turn reused it
    assert heard[0].recognized_at_ms < heard[0].at_ms


def test_speech_after_a_pause_is_heard_with_the_rest(runtime, wavs, load_wav):
    session, recognizer = waiting_at(runtime, "score")
    before = len(session.events)
    si = pcm(load_wav, wavs["si"])
    voiced = np.nonzero(np.abs(si) > 2000)[0]
    word = si[max(0, voiced[0] - 800) : voiced[-1] + 800]
    say(session, np.concatenate([word, np.zeros(16000 * 3 // 10, np.int16), word]), then_silent_ms=1000)
    heard = [e for e in session.events[before:] if isinstance(e, Heard)]
    ended = [e for e in session.events[before:] if isinstance(e, SpeechEnded)]
    assert len(heard) == 1 and len(ended) == 1  # one turn, not two
    assert recognizer.calls == 2  # the first pause's guess was dropped when the caller went on
    assert ended[0].duration_ms > 2 * len(word) * 1000 // 16000


class BackgroundRecognizer:
    """The real recogniser's background recognitions (``start``), counting those begun, the audio
    each was given, and those whose result was asked for."""

    def __init__(self, inner) -> None:
        self.inner, self.name = inner, inner.name
        self.begun: list[int] = []   # samples of audio each closed recognition was given
        self.collected = 0

    def recognize(self, audio, hints):
        return self.inner.recognize(audio, hints)

    def start(self, audio, hints):
        self.begun.append(len(audio))
        job, owner = self.inner.start(audio, hints), self

        class Counted:
            def result(self):
                owner.collected += 1
                return job.result()

        return Counted()


def test_an_answer_is_recognised_in_the_background_from_100_ms_into_the_silence(runtime, wavs, load_wav):
    closed = runtime.options.session.turns.closed
    assert 0 < closed.ahead_ms < closed.pause_ms
    session, recognizer = waiting_at(runtime, "score", recognizer=BackgroundRecognizer(runtime.recognizer))
    before = len(session.events)
    say(session, pcm(load_wav, wavs["cuatro"]), then_silent_ms=1000)
    heard = [e for e in session.events[before:] if isinstance(e, Heard)]
    assert len(heard) == 1 and heard[0].slots == {"score": 4} and heard[0].early
    # Begun when the silence was ahead_ms old, decided when it was pause_ms old.
    assert heard[0].at_ms - heard[0].recognized_at_ms == closed.pause_ms - closed.ahead_ms
    assert recognizer.collected == 1 and len(recognizer.begun) >= 1


def test_a_background_recognition_is_dropped_when_the_caller_goes_on(runtime, wavs, load_wav):
    closed = runtime.options.session.turns.closed
    session, recognizer = waiting_at(runtime, "score", recognizer=BackgroundRecognizer(runtime.recognizer))
    si = pcm(load_wav, wavs["si"])
    voiced = np.nonzero(np.abs(si) > 2000)[0]
    word = si[max(0, voiced[0] - 800) : voiced[-1] + 800]
    gap = np.zeros(16 * (closed.ahead_ms + closed.pause_ms) // 2, np.int16)  # long enough to begin, too short to decide
    before = len(session.events)
    say(session, np.concatenate([word, gap, word]), then_silent_ms=1000)
    heard = [e for e in session.events[before:] if isinstance(e, Heard)]
    ended = [e for e in session.events[before:] if isinstance(e, SpeechEnded)]
    assert len(heard) == 1 and len(ended) == 1
    assert len(recognizer.begun) > recognizer.collected  # the first part's recognition was never used
    assert recognizer.begun[-1] > recognizer.begun[0] + len(word)  # the one used heard both parts


def test_endpointer_reports_a_quiet_before_each_pause(wavs, load_wav):
    audio = np.concatenate([pcm(load_wav, wavs["cinco"]), np.zeros(16000, np.int16)])
    endpointer = Endpointer(EndpointConfig(hangover_ms=450, pause_ms=200, ahead_ms=100))
    events = [(e, i * FRAME_MS) for i, f in enumerate(frames(audio)) if (e := endpointer.process(f))]
    quiet = [t for e, t in events if e is Endpoint.QUIET]
    paused = [t for e, t in events if e is Endpoint.PAUSED]
    assert quiet and len(quiet) >= len(paused)
    assert all(t - 100 in quiet for t in paused)
