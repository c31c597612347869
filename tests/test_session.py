"""CallSession driven frame by frame: keypad, type-ahead, barge-in, time-outs, hang-up, recording."""

from __future__ import annotations

import numpy as np
import pytest

from encuestador.audio import FRAME_SAMPLES
from encuestador.dialogue.survey import CustomerContext
from encuestador.events import BargeIn, EchoIgnored, Hangup, Heard, NoInput, Say
from encuestador.store import Store, StoreSink

SILENCE = np.zeros(FRAME_SAMPLES, np.int16)


def customer():
    return CustomerContext(company="Telecom del Norte", name="Ana", local_hour=10)


def step(session, frames=1, audio=None):
    for _ in range(frames):
        session.pull_audio()
        session.push_audio(SILENCE if audio is None else audio)


def until_waiting(session, limit_s=60):
    for _ in range(limit_s * 50):
        if session.dialogue.awaiting is not None and not session.playing:
            return
        step(session)
    raise AssertionError("the agent never waited for an answer")


def test_keypad_survey_end_to_end(runtime, tmp_path):
    store = Store(tmp_path / "s.db")
    store.start_call("k1", "C-1", "+525512345678")
    session = runtime.new_session(customer(), [StoreSink(store, "k1", "+525512345678")])
    session.start()
    for key in "142":
        until_waiting(session)
        session.push_dtmf(key)
    call = store.call("k1")
    assert (call["consent"], call["score"], call["resolved"]) == (1, 4, 0)
    assert session.dialogue.awaiting.id == "feedback"


def test_key_during_prompt_stops_it_and_answers(runtime):
    session = runtime.new_session(customer())
    session.start()
    step(session, 25)  # half a second into the greeting
    assert session.playing
    session.push_dtmf("1")
    barge = [e for e in session.events if isinstance(e, BargeIn)]
    assert barge and barge[0].cause == "dtmf"
    assert session.dialogue.result.consent is True
    # The next thing played is the score question, from its start.
    assert [e for e in session.events if isinstance(e, Say)][-1].prompt == "score.prompt"


def test_speech_during_prompt_stops_it_within_200_ms(runtime, wavs, load_wav):
    session = runtime.new_session(customer())
    session.start()
    step(session, 50)
    speech = np.clip(load_wav(wavs["si"]) * 32767, -32768, 32767).astype(np.int16)
    frames_until_cut = None
    for i in range(0, len(speech) - FRAME_SAMPLES, FRAME_SAMPLES):
        step(session, 1, speech[i : i + FRAME_SAMPLES])
        if any(isinstance(e, BargeIn) for e in session.events):
            frames_until_cut = i // FRAME_SAMPLES
            break
    assert frames_until_cut is not None, "caller speech never stopped the prompt"
    voiced_at = next(i for i in range(0, len(speech), FRAME_SAMPLES)
                     if np.abs(speech[i : i + FRAME_SAMPLES]).max() > 3000) // FRAME_SAMPLES
    assert (frames_until_cut - voiced_at) * 20 <= 200
    assert not session.playing


def test_no_input_reprompts_after_the_prompt_ends(runtime):
    session = runtime.new_session(customer())
    session.start()
    until_waiting(session)
    waited_from = session.now_ms
    for _ in range(400):
        step(session)
        if any(isinstance(e, NoInput) for e in session.events):
            break
    no_input = next(e for e in session.events if isinstance(e, NoInput))
    assert no_input.at_ms - waited_from == pytest.approx(session.dialogue.script.questions["consent"].no_input_ms, abs=40)
    assert isinstance(session.events[-1], Say) and session.events[-1].prompt == "consent.reprompt"


def test_caller_hangup_keeps_answers_and_ends_session(runtime, tmp_path):
    store = Store(tmp_path / "s.db")
    store.start_call("h1", None, None)
    sink = StoreSink(store, "h1", None)
    session = runtime.new_session(customer(), [sink])
    session.start()
    until_waiting(session)
    session.push_dtmf("1")
    until_waiting(session)
    session.push_dtmf("5")
    session.hangup_by_caller()
    assert session.finished and session.dialogue.result.outcome == "hung_up"
    assert isinstance(session.events[-1], Hangup)
    assert store.call("h1")["score"] == 5


def test_closing_plays_to_the_end_then_hangs_up(runtime):
    session = runtime.new_session(customer())
    session.start()
    until_waiting(session)
    session.push_dtmf("2")  # no time → polite closing
    assert session.playing and not session.finished
    session.push_dtmf("1")  # nothing is asked any more: ignored
    while session.playing:
        step(session)
    step(session)
    assert session.finished and session.actions.get_nowait() == Hangup(session.events[-1].at_ms, "declined")


def test_recording_is_stereo_agent_left_caller_right(runtime, tmp_path):
    session = runtime.new_session(customer())
    session.start()
    tone = (np.sin(np.arange(FRAME_SAMPLES) * 0.3) * 8000).astype(np.int16)
    step(session, 10, tone)
    stereo = session.conversation()
    assert stereo.shape == (10 * FRAME_SAMPLES, 2)
    assert np.abs(stereo[:, 0]).max() > 0  # the greeting
    assert np.array_equal(stereo[:FRAME_SAMPLES, 1], tone)
    path = session.write_recording(tmp_path / "r.wav")
    from encuestador.audio.wavio import read_wav

    assert read_wav(path, rate=None)[1] == 16000


def test_maximum_call_length_ends_the_call(runtime):
    from dataclasses import replace

    session = runtime.new_session(customer())
    session.config = replace(session.config, max_call_ms=2000)
    session.start()
    step(session, 101)
    assert session.finished and session.actions.get_nowait().outcome == "max_duration"
    assert session.dialogue.result.outcome == "max_duration"


def test_lost_frames_are_concealed_not_silent(runtime):
    """A transport that reports a gap gets the pitch-repetition concealment, not a hole."""
    session = runtime.new_session(CustomerContext("Ana"), record=True)
    session.start()
    t = np.arange(FRAME_SAMPLES * 10) / 16000
    vowel = np.round(8000 * np.sin(2 * np.pi * 150 * t) + 3000 * np.sin(2 * np.pi * 450 * t)).astype(np.int16)
    for k in range(10):
        if k == 6:
            session.push_lost()
        else:
            session.push_audio(vowel[k * FRAME_SAMPLES : (k + 1) * FRAME_SAMPLES])
    caller = session.conversation()[:, 1]
    lost = caller[6 * FRAME_SAMPLES : 7 * FRAME_SAMPLES].astype(np.float64)
    expected = vowel[6 * FRAME_SAMPLES : 7 * FRAME_SAMPLES].astype(np.float64)
    assert np.sum((lost - expected) ** 2) < 0.1 * np.sum(expected**2)


class EchoingLine:
    """The agent's own audio coming back on the caller side: delayed, attenuated by ``erl_db``,
    coloured by a short hybrid filter, over faint line noise."""

    def __init__(self, delay_ms: int = 120, erl_db: float = 10.0) -> None:
        from scipy.signal import lfilter

        self._lfilter = lfilter
        self._delay = [np.zeros(FRAME_SAMPLES, np.float64)] * (delay_ms // 20)
        self._gain = 10 ** (-erl_db / 20)
        self._state = np.zeros(3)
        self._rng = np.random.default_rng(1)

    def step(self, session, caller_voice: np.ndarray | None = None) -> None:
        played = session.pull_audio().astype(np.float64)
        self._delay.append(played)
        echo, self._state = self._lfilter([0.6, 0.3, -0.2, 0.1], [1.0], self._delay.pop(0), zi=self._state)
        mixed = echo * self._gain + self._rng.standard_normal(FRAME_SAMPLES) * 3
        if caller_voice is not None:
            mixed += caller_voice
        session.push_audio(np.clip(np.round(mixed), -32768, 32767).astype(np.int16))


def test_echo_of_the_prompt_does_not_barge_in_or_answer(runtime):
    session = runtime.new_session(customer())
    session.start()
    line = EchoingLine()
    for _ in range(50 * 12):  # the greeting and the consent question, with their echo
        line.step(session)
    assert not [e for e in session.events if isinstance(e, (BargeIn, Heard))]
    assert [e for e in session.events if isinstance(e, EchoIgnored)]
    assert session.dialogue.awaiting.id == "consent"


def test_caller_speaking_over_the_echo_still_barges_in_within_200_ms(runtime, wavs, load_wav):
    session = runtime.new_session(customer())
    session.start()
    line = EchoingLine(erl_db=12)
    for _ in range(60):
        line.step(session)
    assert session.playing
    speech = np.clip(load_wav(wavs["si"]) * 32767, -32768, 32767).astype(np.int16)
    voiced_at = next(i for i in range(0, len(speech), FRAME_SAMPLES)
                     if np.abs(speech[i : i + FRAME_SAMPLES]).max() > 3000) // FRAME_SAMPLES
    for k in range(len(speech) // FRAME_SAMPLES):
        line.step(session, speech[k * FRAME_SAMPLES : (k + 1) * FRAME_SAMPLES].astype(np.float64))
        if any(isinstance(e, BargeIn) for e in session.events):
            break
    barge = [e for e in session.events if isinstance(e, BargeIn)]
    assert barge and barge[0].cause == "speech"
    assert (k - voiced_at) * 20 <= 200


class RecordingSynthesizer:
    """The real voice, noting what it was asked to say."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.voice_id = inner, inner.name, inner.voice_id
        self.texts: list[str] = []

    def synthesize(self, text: str) -> np.ndarray:
        self.texts.append(text)
        return self.inner.synthesize(text)


def test_prompts_are_spoken_sentence_by_sentence_and_names_never_cached(runtime, tmp_path):
    from encuestador.dialogue.survey import SurveyDialogue
    from encuestador.session import CallSession
    from encuestador.speak.cache import PromptCache

    voice = RecordingSynthesizer(runtime.synthesizer)
    cache = PromptCache(voice, tmp_path / "cache")
    session = CallSession(SurveyDialogue(runtime.script, customer()), runtime.understander, cache,
                          record=False, tunes=runtime.tunes)
    session.start()
    # Only what is needed to start playing was made: the greeting, not yet the question after it.
    assert voice.texts[0] == "Buenos días, Ana."
    assert not any("minutos" in t for t in voice.texts)
    for _ in range(50 * 10):
        step(session)
        if any("minutos" in t for t in voice.texts):
            break
    assert any("minutos" in t for t in voice.texts)
    assert session.playback.queued > session.playback.played    # made while the greeting still played
    assert all(len(t) < 120 for t in voice.texts)               # one sentence at a time
    on_disk = len(list((tmp_path / "cache").glob("*.wav")))
    assert on_disk == len(voice.texts) - 1                      # everything but the sentence with the name
    # A second call with another customer: fixed sentences come from the cache.
    voice.texts.clear()
    other = CallSession(SurveyDialogue(runtime.script, CustomerContext(company="Telecom del Norte", name="Luis",
                                                                       local_hour=10)),
                        runtime.understander, cache, record=False, tunes=runtime.tunes)
    other.start()
    step(other, 50 * 10)
    assert voice.texts == ["Buenos días, Luis."]
