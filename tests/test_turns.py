"""Turn-taking that cannot misattribute an answer (real faster-whisper; Kokoro caller fixtures).

A caller cannot answer a question he has not heard yet: speech that starts before he heard our reply
continues the previous answer, which is decided again on the whole of it."""

from __future__ import annotations

import numpy as np
import pytest

from encuestador.store import Store, StoreSink
from encuestador.events import AnswerCorrected, AnswerRecorded, Heard, Say, SpeechStarted
from test_early_decision import SILENCE, frames, pcm, say, waiting_at

pytestmark = pytest.mark.slow


def until_waiting(session, limit_s=60):
    for _ in range(limit_s * 50):
        if session.dialogue.awaiting is not None and not session.playing:
            return
        session.pull_audio()
        session.push_audio(SILENCE)
    raise AssertionError("the agent never waited for an answer")


def silence(ms: int) -> np.ndarray:
    return np.zeros(16 * ms, np.int16)


def settle(session, question, value):
    """Whisper base may only half hear a word: an answer read back is confirmed with the keypad, and
    only when what is read back is what was said."""
    pending = session.dialogue.confirming
    if pending is not None:
        assert (pending.question, pending.value) == (question, value)
        until_waiting(session)
        session.push_dtmf("1")


def recorded(session, question):
    return [e.value for e in session.events if isinstance(e, AnswerRecorded) and e.question == question]


def test_a_pause_inside_si_claro_does_not_answer_the_next_question(runtime, wavs, load_wav):
    session, _ = waiting_at(runtime, "consent")
    # «Sí… claro»: 500 ms of silence inside the answer, long enough for the 200 ms early decision.
    say(session, np.concatenate([pcm(load_wav, wavs["k_si"]), silence(500), pcm(load_wav, wavs["k_claro"])]),
        then_silent_ms=1000)
    assert any(isinstance(e, SpeechStarted) and e.continues for e in session.events)
    assert [e for e in session.events if isinstance(e, Heard)][-1].question == "consent"
    settle(session, "consent", True)
    assert recorded(session, "consent") == [True]  # stored once, not again for «claro»
    assert session.dialogue.result.score is None and session.dialogue.awaiting.id == "score"
    until_waiting(session)
    assert [e.prompt for e in session.events if isinstance(e, Say)][-1] == "score.prompt"  # asked anew, whole
    say(session, pcm(load_wav, wavs["k_cuatro"]), then_silent_ms=1000)
    settle(session, "score", 4)
    assert session.dialogue.result.score == 4 and recorded(session, "score") == [4]
    assert session.dialogue.awaiting.id == "resolved"


def test_ocho_at_the_score_question_stores_no_score(runtime, wavs, load_wav):
    session, _ = waiting_at(runtime, "score")
    say(session, pcm(load_wav, wavs["k_ocho"]), then_silent_ms=1500)
    heard = [e for e in session.events if isinstance(e, Heard)][-1]
    assert heard.question == "score" and heard.intent == "unknown"
    assert session.dialogue.result.score is None and not recorded(session, "score")
    assert session.dialogue.awaiting.id == "score"
    assert [e.prompt for e in session.events if isinstance(e, Say)][-1] == "score.keypad"  # asks for the keypad


def test_cuatro_no_cinco_never_leaves_the_first_value_stored(runtime, wavs, load_wav, tmp_path):
    session, _ = waiting_at(runtime, "score")
    store = Store(tmp_path / "s.db")
    store.start_call("c1", "C-1", "+525512345678")
    session.sinks.append(StoreSink(store, "c1", "+525512345678"))
    say(session, np.concatenate([pcm(load_wav, wavs["k_cuatro"]), silence(500), pcm(load_wav, wavs["k_no_cinco"])]),
        then_silent_ms=1500)
    assert [e for e in session.events if isinstance(e, Heard)][-1].continues  # one answer, decided again
    stored = recorded(session, "score")
    assert stored[:1] == [4]  # «Cuatro» was taken at the pause…
    corrections = [(c.question, c.previous, c.value) for c in session.events if isinstance(c, AnswerCorrected)]
    # … and corrected: to 5 when the whole is heard as «cuatro, no, cinco», or taken back and asked
    # again (keypad) when Whisper garbles it; never left at 4.
    if session.dialogue.confirming is not None:
        settle(session, "score", 5)
    assert corrections and corrections[0][:2] == ("score", 4) and session.dialogue.result.score in (5, None)
    assert recorded(session, "score")[-1] == session.dialogue.result.score
    # The store holds the latest value, and the history of what was heard.
    assert store.call("c1")["score"] == session.dialogue.result.score
    history = [a["value"] for a in store.call("c1")["answers"] if a["question"] == "score"]
    assert history[0] == 4 and history[-1] == session.dialogue.result.score


def test_speech_after_the_caller_heard_the_question_answers_it(runtime, wavs, load_wav):
    session, _ = waiting_at(runtime, "score")
    say(session, pcm(load_wav, wavs["k_cuatro"]), then_silent_ms=0)
    settle(session, "score", 4)
    until_waiting(session)  # the caller has heard the whole resolved question
    say(session, pcm(load_wav, wavs["k_ocho"]), then_silent_ms=1500)
    assert not any(isinstance(e, SpeechStarted) and e.continues for e in session.events)
    assert [e for e in session.events if isinstance(e, Heard)][-1].question == "resolved"
    assert session.dialogue.result.score == 4 and recorded(session, "score") == [4]


# -- the turn-taker on its own -------------------------------------------------------------------

def feed(taker, audio, awaiting, start_ms, heard_ms):
    """Frames of ``audio`` (then 1 s of silence) through ``taker``; what it reported, with times."""
    out = []
    for i, f in enumerate(frames(np.concatenate([audio, silence(1000)]))):
        now = start_ms + i * 20
        result = taker.process(f, None, awaiting, now, heard_ms(now))
        if result is not None:
            out.append((now, result))
    return out


@pytest.mark.parametrize("heard_ms,continues", [(300, True), (1500, False)])
def test_turn_taker_joins_speech_started_before_the_reply_was_heard(runtime, wavs, load_wav, heard_ms, continues):
    from encuestador.listen.turns import SpeechStart, Turn, TurnTaker

    taker = TurnTaker(runtime.understander)
    consent, score = runtime.script.questions["consent"], runtime.script.questions["score"]
    reported = feed(taker, pcm(load_wav, wavs["k_si"]), consent, 0, lambda now: 1 << 30)
    first = [r for _, r in reported]
    assert isinstance(first[0], SpeechStart) and not first[0].continues
    [(ended_at, turn)] = [(t, r) for t, r in reported if isinstance(r, Turn)]
    assert turn.question.id == "consent" and not turn.continues
    taker.listen(score)  # the dialogue moved on: our reply (the score question) starts playing
    second = [r for _, r in feed(taker, pcm(load_wav, wavs["k_claro"]), score, ended_at + 20, lambda now: heard_ms)]
    assert isinstance(second[0], SpeechStart) and second[0].continues is continues
    [again] = [r for r in second if isinstance(r, Turn)]
    assert again.continues is continues
    assert again.question.id == ("consent" if continues else "score")
    if continues:  # decided on both parts: longer than either
        assert len(again.audio) > len(turn.audio) + len(pcm(load_wav, wavs["k_claro"])) // 2
