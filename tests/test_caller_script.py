"""Caller scripts: loading and validation, scoring a call against what the caller meant, the truthful
read-back reply, and one whole scripted call (keys only) through the real runtime."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from encuestador.caller_script import CallerScriptError, load_caller_script, load_caller_scripts, parse_caller_script
from encuestador.script_check import confirm_answer, expected_call, score_call
from encuestador.scripted_caller import ScriptedCaller, run_scripted_call
from encuestador.dialogue.survey import Confirmation, SurveyResult
from encuestador.events import Say
from encuestador.understand.parser import Understanding

BENCH_SCRIPTS = Path(__file__).parent.parent / "bench" / "caller_scripts"

HAPPY = """
description: "Happy: sí, cuatro, sí, a comment."
voice: em_santa
customer: {name: Ana López, topic: su internet}
line: {snr_db: 20, loss: 0.03, seed: 5}
consent: {means: yes, say: [audio/si.wav, {keys: "1"}]}
score:
  means: 4
  say: [[audio/cuatro.wav, {silence: 0.5}, audio/no_cinco.wav], [{over_prompt: 2}, {keys: 4}]]
resolved: {means: no, say: [{silence: 6}]}
feedback: {means: "el técnico llegó tarde", say: [audio/tarde.wav]}
offer_human: {means: no, say: [{keys: "2"}]}
confirm: {yes: [audio/si.wav], no: [audio/no.wav, {keys: "2"}]}
expect: {outcome: completed}
"""


def write(tmp_path: Path, text: str, name: str = "caller.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def script_of(tmp_path: Path, text: str):
    return load_caller_script(write(tmp_path, text))


# -- loading ---------------------------------------------------------------------------------------
def test_loads_turns_means_and_options(tmp_path):
    s = script_of(tmp_path, HAPPY)
    assert s.name == "caller" and s.voice == "em_santa" and s.group == "dev"
    assert s.customer == {"name": "Ana López", "topic": "su internet"}
    assert s.line == {"snr_db": 20, "loss": 0.03, "seed": 5} and s.expect == {"outcome": "completed"}
    # YAML's bare yes/no are booleans: they come back as the answers they mean
    assert [s.questions[q].means for q in ("consent", "score", "resolved", "offer_human")] == ["yes", 4, "no", "no"]
    assert s.questions["feedback"].means == "el técnico llegó tarde"
    first, second = s.questions["score"].say
    assert [i.kind for i in first.items] == ["wav", "silence", "wav"] and first.over_prompt is None
    assert first.items[0].value == (tmp_path / "audio" / "cuatro.wav").resolve()  # relative to the YAML
    assert second.over_prompt == 2.0 and [(i.kind, i.value) for i in second.items] == [("keys", "4")]
    assert [i.kind for i in s.questions["resolved"].say[0].items] == ["silence"]
    assert set(s.confirm) == {"yes", "no"} and len(s.confirm["no"]) == 2
    assert [p.name for p in s.wavs()] == ["si.wav", "cuatro.wav", "no_cinco.wav", "tarde.wav", "no.wav"]
    assert len(s.missing_audio()) == 5
    assert parse_caller_script({"voice": "ef_dora", "consent": {"means": "opt_out", "say": ["x.wav"]}},
                               tmp_path / "d.yaml").group == "held_out"


@pytest.mark.parametrize("text,key,fragment", [
    ("- just a list\n", "", "a caller script is a YAML mapping"),
    ("consent: {means: yes, say: [a.wav]\n", "", "not valid YAML"),
    ("sore: {means: 4, say: [a.wav]}\n", "sore", "unknown key"),
    ("score: {means: 7, say: [a.wav]}\n", "score.means", "score 1–5"),
    ("consent: {means: maybe, say: [a.wav]}\n", "consent.means", "yes, no"),
    ("score: {say: [a.wav]}\n", "score.means", "missing"),
    ("score: {means: 4}\n", "score.say", "missing"),
    ("score: {means: 4, say: [a.mp3]}\n", "score.say[0]", "not a WAV path"),
    ("score: {means: 4, say: [[a.wav, {over_prompt: 1}]]}\n", "score.say[0][1]", "over_prompt must come first"),
    ("score: {means: 4, say: [[[a.wav]]]}\n", "score.say[0][0]", "cannot themselves be lists"),
    ("score: {means: 4, say: [{keys: \"4x\"}]}\n", "score.say[0]", "keys must be digits"),
    ("score: {means: 4, say: [{silence: 0}]}\n", "score.say[0].silence", "must be > 0"),
    ("score: {means: 4, say: [{shout: 1}]}\n", "score.say[0]", "expected a WAV path"),
    ("score: {means: 4, say: [a.wav], extra: 1}\n", "score.extra", "unknown key"),
    ("feedback: {means: callback_later, say: [a.wav]}\n", "feedback.means", "callback_later"),
    ("score: {means: 4, say: [a.wav]}\nconfirm: {yes: [a.wav]}\n", "confirm.no", "missing"),
    ("score: {means: 4, say: [a.wav]}\nline: {snr_db: 10, loss: 0.7}\n", "line.loss", "below 0.5"),
    ("score: {means: 4, say: [a.wav]}\nline: {noise: 3}\n", "line", "unknown key"),
    ("score: {means: 4, say: [a.wav]}\nexpect: {outcom: completed}\n", "expect", "unknown key"),
    ("score: {means: 4, say: [a.wav]}\nexpect: {opt_out: maybe}\n", "expect.opt_out", "true or false"),
    ("description: nothing scripted\n", "", "no question is scripted"),
])
def test_a_bad_script_is_refused_naming_file_and_key(tmp_path, text, key, fragment):
    path = write(tmp_path, text)
    with pytest.raises(CallerScriptError) as error:
        load_caller_script(path)
    message = str(error.value)
    assert message.startswith(f"{path}: " + (f"{key}: " if key else "")), message
    assert fragment in message, message


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CallerScriptError, match=re.escape(f"{tmp_path / 'nope.yaml'}: cannot read it")):
        load_caller_script(tmp_path / "nope.yaml")


def test_the_bench_scripts_are_valid_and_cover_the_cases():
    import yaml

    scripts = load_caller_scripts(BENCH_SCRIPTS)
    assert len(scripts) >= 40
    phrases = yaml.safe_load((BENCH_SCRIPTS / "phrases.yaml").read_text(encoding="utf-8"))
    audio = (BENCH_SCRIPTS / "audio").resolve()
    for s in scripts:
        assert all(w.parent == audio and w.name in phrases for w in s.wavs()), s.name
        assert s.voice and s.description and s.confirm, s.name
        expected_call(s)  # every script's meaning walks the survey
    assert {"em_santa", "em_alex", "ef_dora"} <= {p["voice"] for p in phrases.values()}
    assert any(p["voice"].startswith("espeak:") for p in phrases.values())
    assert {s.group for s in scripts} == {"dev", "held_out"}
    means = [q.means for s in scripts for q in s.questions.values()]
    assert {"opt_out", "human", "wrong_person", "callback_later"} <= set(means)
    turns = [t for s in scripts for t in s.turns()]
    assert any(t.over_prompt is not None for t in turns)
    assert any(len([i for i in t.items if i.kind == "wav"]) > 1 for t in turns)  # pauses inside an answer
    assert any(s.line["snr_db"] is not None and s.line["snr_db"] <= 10 for s in scripts)


def test_the_call_evaluation_puts_quiet_scripts_on_the_line_asked_for():
    import argparse

    from bench.call_eval import on_line, parse_line

    assert parse_line("20,0.03") == {"snr_db": 20.0, "loss": 0.03}
    for bad in ("20", "20,0.6", "veinte,0.03"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_line(bad)
    scripts = load_caller_scripts(BENCH_SCRIPTS)
    moved = on_line(scripts, parse_line("20,0.03"))
    for before, after in zip(scripts, moved):
        if before.line["snr_db"] == 30 and before.line["loss"] == 0:
            assert after.line == {**before.line, "snr_db": 20.0, "loss": 0.03}, before.name
        else:  # the noise scripts keep their own, noisier line
            assert after.line == before.line, before.name
    assert any(a.line != b.line for a, b in zip(scripts, moved)) and any(a.line == b.line for a, b in zip(scripts, moved))
    assert on_line(scripts, None) == scripts


# -- scoring -----------------------------------------------------------------------------------------
def test_score_call_right_answers_match(tmp_path):
    s = script_of(tmp_path, HAPPY)
    result = SurveyResult(consent=True, score=4, resolved=False, feedback="El técnico llegó muy tarde.",
                          offer_human=False, outcome="completed", ticket=True)
    check = score_call(s, result)
    assert check["matches"] is True
    assert check["expected_path"] == ["consent", "score", "resolved", "feedback", "offer_human"]
    assert {q: r["status"] for q, r in check["questions"].items()} == dict.fromkeys(check["expected_path"], "right")
    assert check["questions"]["feedback"]["recall"] == 1.0
    assert check["checks"]["ticket"] == {"expected": True, "got": True, "ok": True}


def test_score_call_finds_wrong_and_missing_answers(tmp_path):
    s = script_of(tmp_path, HAPPY)
    result = SurveyResult(consent=True, score=5, resolved=None, feedback="Todo bien.", offer_human=False,
                          outcome="completed", ticket=True)
    check = score_call(s, result)
    status = {q: r["status"] for q, r in check["questions"].items()}
    assert status == {"consent": "right", "score": "wrong", "resolved": "not_stored", "feedback": "wrong",
                      "offer_human": "right"}
    assert check["matches"] is False
    # True is not the score 1
    s1 = parse_caller_script({"score": {"means": 1, "say": ["a.wav"]}, "consent": {"means": "yes", "say": ["a.wav"]}},
                             tmp_path / "x.yaml")
    assert score_call(s1, SurveyResult(consent=True, score=True))["questions"]["score"]["status"] == "wrong"


def test_questions_after_a_meant_opt_out_are_not_applicable(tmp_path):
    s = script_of(tmp_path, """
consent: {means: yes, say: [a.wav]}
score: {means: opt_out, say: [b.wav]}
resolved: {means: yes, say: [a.wav]}
expect: {opt_out: true}
""")
    done = SurveyResult(consent=True, opt_out=True, outcome="opt_out")
    check = score_call(s, done)
    assert check["matches"] is True and check["expected_path"] == ["consent", "score"]
    assert check["questions"]["score"]["status"] == "right"       # nothing stored, as meant
    assert check["questions"]["resolved"]["status"] == "n/a"
    missed = score_call(s, {"consent": True, "score": 3, "resolved": True, "opt_out": False, "outcome": "completed"})
    assert missed["matches"] is False and missed["checks"]["opt_out"]["ok"] is False
    assert missed["questions"]["score"]["status"] == "wrong" and missed["questions"]["resolved"]["status"] == "extra"


def test_expect_overrides_and_adds_checks(tmp_path):
    s = script_of(tmp_path, """
consent: {means: callback_later, say: [a.wav]}
expect: {callback: true, outcome: callback_later}
""")
    ok = score_call(s, SurveyResult(outcome="callback_later", callback={"when": "tarde"}))
    assert ok["matches"] is True
    assert score_call(s, SurveyResult(outcome="callback_later"))["checks"]["callback"]["ok"] is False


# -- the truthful read-back reply -----------------------------------------------------------------------
def _confirmation(question, value):
    return Confirmation(question, value, Understanding("score" if question == "score" else "yes", {}, 0.6, "…"))


def test_confirm_answer_is_truthful(tmp_path):
    s = script_of(tmp_path, HAPPY)
    assert confirm_answer(s, _confirmation("score", 4), "score") == "yes"
    assert confirm_answer(s, _confirmation("score", 5), "score") == "no"
    assert confirm_answer(s, _confirmation("consent", True), "consent") == "yes"
    assert confirm_answer(s, _confirmation("resolved", True), "resolved") == "no"
    assert confirm_answer(s, _confirmation("opt_out", True), "score") == "no"      # never asked to stop
    opt = parse_caller_script({"score": {"means": "opt_out", "say": ["a.wav"]}}, tmp_path / "o.yaml")
    assert confirm_answer(opt, _confirmation("opt_out", True), "score") == "yes"
    assert confirm_answer(opt, _confirmation("score", 1), "score") == "no"


class _FakeSession:
    """Just what the caller reads: events, the dialogue's awaited question and read-back, keys pressed."""

    def __init__(self, confirming):
        self.events = [Say(0, "confirm.prompt", "Entendí …, ¿es correcto?")]
        self.dialogue = SimpleNamespace(awaiting=SimpleNamespace(id="confirm"), confirming=confirming)
        self.playing = False
        self.now_ms = 0
        self.keys = []

    def push_dtmf(self, digit):
        self.keys.append(digit)


@pytest.mark.parametrize("value,key", [(4, "1"), (2, "2")])
def test_the_caller_picks_the_truthful_confirm_turn(tmp_path, value, key):
    s = script_of(tmp_path, """
score: {means: 4, say: [{keys: "4"}]}
confirm: {yes: [{keys: "1"}], no: [{keys: "2"}]}
""")
    caller = ScriptedCaller(s, {})
    caller.last_question = "score"
    session = _FakeSession(_confirmation("score", value))
    frame = np.zeros(320, dtype=np.float32)
    for _ in range(40):  # the human gap, then the key
        caller.step(session, frame)
        session.now_ms += 20
    assert session.keys == [key]
    assert caller.log[-1]["reply"] == ("yes" if key == "1" else "no")
    assert caller.log[-1]["confirming"] == {"question": "score", "value": value}
    assert 360 <= caller.log[-1]["at_ms"] <= 500  # after the 400 ms human gap


@pytest.mark.parametrize("said_at_ms,answered", [(200, False), (700, True)])
def test_a_prompt_said_over_the_callers_voice_is_not_answered(tmp_path, said_at_ms, answered):
    """Voice 0–500 ms then trailing silence: a prompt begun while the caller spoke was talked over (the
    caller waits for the next); one begun in the trailing silence is answered."""
    from encuestador.scripted_caller import Clip

    s = script_of(tmp_path, "consent: {means: yes, say: [a.wav, {keys: '1'}]}\n")
    wav = s.wavs()[0]
    caller = ScriptedCaller(s, {wav: Clip(np.zeros(16000, dtype=np.float32), 0, 500)})
    session = _FakeSession(None)
    session.events = [Say(0, "consent.prompt", "¿Tiene unos minutos?")]
    session.dialogue.awaiting = SimpleNamespace(id="consent")
    frame = np.zeros(320, dtype=np.float32)
    for _ in range(150):
        if session.now_ms == 400 + said_at_ms:  # the turn began at 380-400 ms
            session.events.append(Say(session.now_ms, "consent.reprompt", "¿Tiene unos minutos?"))
        caller.step(session, frame)
        session.now_ms += 20
    assert [e["turn"] for e in caller.log] == ([0, 1] if answered else [0])
    assert session.keys == (["1"] if answered else [])


def test_cli_refuses_a_bad_script_before_loading_models(tmp_path, capsys):
    from encuestador.cli import build_parser, main

    bad = write(tmp_path, "score: {means: 9, say: [a.wav]}\n")
    assert main(["simulate", "--caller-script", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert f"{bad}: score.means" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["simulate", "--caller-script", str(bad), "--caller-audio", "a.wav", "--out", "o"])


# -- one whole call -----------------------------------------------------------------------------------
KEYS_ONLY = """
description: "Keys only: 1; 4 pressed over the score question; silent at resolved, then 2; no comments; 2."
voice: keys
customer: {name: Ana López}
consent: {means: yes, say: [{keys: "1"}]}
score: {means: 4, say: [[{over_prompt: 1.5}, {keys: "4"}]]}
resolved: {means: no, say: [{silence: 6}, {keys: "2"}]}
feedback: {means: null, say: [{keys: "1"}]}
offer_human: {means: no, say: [{keys: "2"}]}
confirm: {yes: [{keys: "1"}], no: [{keys: "2"}]}
expect: {outcome: completed, ticket: true}
"""


@pytest.mark.slow
def test_a_keys_only_scripted_call_is_stored_as_meant(runtime, tmp_path):
    from encuestador.simulate import write_outputs

    script = script_of(tmp_path, KEYS_ONLY)
    call = run_scripted_call(runtime, script)
    r = call.result
    assert (r.consent, r.score, r.resolved, r.feedback, r.offer_human) == (True, 4, False, None, False)
    assert r.outcome == "completed" and r.ticket is True and not r.transferred
    check = call.script_check
    assert check["matches"] is True, json.dumps(check, ensure_ascii=False, default=str)
    # the 4 was pressed 1.5 s into the score question, cutting it
    score_prompt = next(e for e in call.events if e.kind == "Say" and e.prompt.startswith("score."))
    four = next(e for e in call.events if e.kind == "Dtmf" and e.digit == "4")
    assert 1400 <= four.at_ms - score_prompt.at_ms <= 1700
    assert any(e.kind == "BargeIn" and e.cause == "dtmf" and e.prompt.startswith("score.") for e in call.events)
    # silence at "resolved": the no-input re-prompt came, and the next turn answered it
    assert any(e.kind == "NoInput" and e.question == "resolved" for e in call.events)
    assert [(e["question"], e["turn"]) for e in call.caller.log][2:4] == [("resolved", 0), ("resolved", 1)]
    written = write_outputs(call, script.customer_context(runtime.options.company), tmp_path / "out")
    on_disk = json.loads((tmp_path / "out" / "result.json").read_text())
    assert on_disk["script_check"]["matches"] is True and written["script_check"] == check
