"""Scoring a call against its caller script, and measurements of a finished scripted call.

What the caller truly means (``caller_script.py``) gives the expected call: the survey's own dialogue
fed those answers, read-backs answered truthfully (``confirm_answer``). ``score_call`` compares what a
call stored with it; ``response_gaps`` measures how long the agent took to answer the caller.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import numpy as np

from .audio import FRAME_MS
from .caller_script import QUESTIONS, CallerScript
from .dialogue.script import SurveyScript
from .dialogue.survey import Confirmation, CustomerContext, SurveyDialogue, SurveyResult
from .events import Heard
from .simulate import SimulatedCall
from .understand.parser import REQUESTS, Understanding

FEEDBACK_RECALL = 0.5           # share of the meant feedback's words the stored text must contain


# -- the truthful reply to a read-back ---------------------------------------------------------
def _expected_value(means: Any) -> Any:
    return {"yes": True, "no": False}.get(means, means) if isinstance(means, str) else means


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same kind (True is not the score 1)."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def confirm_answer(script: CallerScript, confirmation: Confirmation, last_question: str | None = None) -> str:
    """The truthful reply to a read-back: "yes" when the value read back is what the caller means for
    that question (or, for a request, when the caller asked for it at ``last_question``), else "no"."""
    if confirmation.question in REQUESTS:
        return "yes" if script.means(last_question) == confirmation.question else "no"
    part = script.questions.get(confirmation.question)
    if part is None or part.means in REQUESTS:
        return "no"
    return "yes" if _same(_expected_value(part.means), confirmation.value) else "no"


# -- scoring -----------------------------------------------------------------------------------
def _understanding(means: Any, question_kind: str) -> Understanding:
    if means in REQUESTS:
        return Understanding(means, {}, 1.0, means)
    if question_kind == "score":
        return Understanding("score", {"score": int(means)}, 1.0, str(means))
    if question_kind == "yes_no":
        return Understanding(means, {}, 1.0, means)
    return Understanding("unknown", {}, 1.0, str(means))


def expected_call(script: CallerScript, survey: SurveyScript | None = None,
                  transfer_enabled: bool = True) -> tuple[SurveyResult, list[str]]:
    """What a call should store: the survey's own dialogue fed what the caller means (sure
    understandings; silence where the script has nothing). Returns the result and the questions asked."""
    survey = survey or SurveyScript.load()
    customer = CustomerContext("Empresa", name="Cliente", topic=script.customer.get("topic"))
    dialogue = SurveyDialogue(survey, customer, transfer_enabled=transfer_enabled)
    dialogue.start(0)
    asked: list[str] = []
    for step in range(1, 200):
        q = dialogue.awaiting
        if q is None or dialogue.finished:
            break
        now = step * 1000
        confirming = getattr(dialogue, "confirming", None)
        if confirming is not None:  # not expected for sure answers; answered truthfully all the same
            reply = confirm_answer(script, confirming, asked[-1] if asked else None)
            dialogue.on_understanding(Understanding(reply, {}, 1.0, reply), now)
            continue
        if q.id not in asked:
            asked.append(q.id)
        part = script.questions.get(q.id)
        if part is None or part.means is None:
            dialogue.on_no_input(now)
        else:
            dialogue.on_understanding(_understanding(part.means, q.kind), now)
    return dialogue.result, asked


def _words(text: str) -> list[str]:
    plain = unicodedata.normalize("NFD", text.lower())
    plain = "".join(c for c in plain if unicodedata.category(c) != "Mn")
    return [w for w in re.findall(r"[a-z0-9]+", plain) if len(w) > 2]


def text_recall(meant: str, stored: str | None) -> float:
    """Share of the meant text's words (3+ letters, accents ignored) found in the stored text."""
    want = _words(meant)
    if not want:
        return 1.0 if stored else 0.0
    got = set(_words(stored or ""))
    return sum(w in got for w in want) / len(want)


def _get(result: Any, name: str) -> Any:
    return result.get(name) if isinstance(result, dict) else getattr(result, name, None)


def _asked_in(events: list | None) -> set[str] | None:
    if events is None:
        return None
    return {e.prompt.split(".", 1)[0] for e in events if getattr(e, "kind", "") == "Say" and "." in e.prompt}


def score_call(script: CallerScript, result: Any, events: list | None = None, survey: SurveyScript | None = None,
               transfer_enabled: bool = True) -> dict[str, Any]:
    """The stored answers against what the caller meant.

    ``result``: a ``SimulatedCall`` (its events are used), a ``SurveyResult`` or a ``result.json`` dict.
    Per question: ``right``, ``wrong`` (a value stored that the caller did not mean), ``not_stored``
    (on the call's expected path, nothing stored), ``n/a`` (not on the expected path — e.g. the call
    ended earlier as meant — and nothing stored) or ``extra`` (not on the path, yet stored). The
    expected path, outcome, opt-out, transfer, ticket and callback come from the survey's own dialogue
    fed the meant answers (``expected_call``); ``expect`` in the script overrides or adds to them.
    ``matches`` is true when every question is right or n/a and every check holds.
    """
    if isinstance(result, SimulatedCall):
        events = result.events if events is None else events
        result = result.result
    expected, path = expected_call(script, survey, transfer_enabled)
    asked = _asked_in(events)
    questions: dict[str, Any] = {}
    for qid in QUESTIONS:
        stored = _get(result, qid)
        want = _get(expected, qid)
        row: dict[str, Any] = {"means": script.means(qid) if qid in script.questions else "(not scripted)",
                               "expected": want, "stored": stored}
        if asked is not None:
            row["asked"] = qid in asked
        if qid not in path:
            row["status"] = "n/a" if stored is None else "extra"
        elif qid == "feedback" and isinstance(want, str):
            row["recall"] = round(text_recall(want, stored), 2)
            row["status"] = ("not_stored" if stored is None else
                             "right" if row["recall"] >= FEEDBACK_RECALL else "wrong")
        elif _same(stored, want):
            row["status"] = "right"
        else:
            row["status"] = "not_stored" if stored is None else "wrong"
        questions[qid] = row
    wanted = {"outcome": expected.outcome, "opt_out": expected.opt_out, "transferred": expected.transferred,
              "ticket": expected.ticket, "callback": expected.callback is not None, **script.expect}
    checks: dict[str, Any] = {}
    for name, want in wanted.items():
        got = _get(result, name)
        if name == "callback":
            got = got is not None
            ok = got == want
        elif name == "feedback" and isinstance(want, str):
            ok = text_recall(want, got) >= FEEDBACK_RECALL
        else:
            ok = _same(got, want) if want is not None else got is None
        checks[name] = {"expected": want, "got": got, "ok": ok}
    matches = all(r["status"] in ("right", "n/a") for r in questions.values()) and all(c["ok"] for c in checks.values())
    return {"script": script.name, "voice": script.voice, "group": script.group, "matches": matches,
            "expected_path": path, "questions": questions, "checks": checks}


# -- measurements of a finished call ------------------------------------------------------------
AGENT_ACTIVE_RMS = 100.0   # int16 RMS of a 20 ms agent frame that counts as audio (about -50 dBFS)


def response_gaps(call: SimulatedCall) -> list[dict[str, Any]]:
    """For each stretch of caller voice the agent answered: caller's last voiced ms → the agent's first
    audio after it, in simulated time (endpointing wait and anything said first), and the wall-clock ASR
    time of what was heard in between (``Heard.asr_ms``, which a real call adds). Skipped: voice that
    ended while the agent was talking, and pauses the caller went on from before the agent answered."""
    caller = call.caller
    if not getattr(caller, "voice", None):  # only a ScriptedCaller logs its stretches of voice
        return []
    agent = call.session.conversation()[:, 0].astype(np.float32)
    n = len(agent) // 320
    active = np.sqrt(np.mean(agent[: n * 320].reshape(n, 320) ** 2, axis=1)) > AGENT_ACTIVE_RMS
    heard = [e for e in call.events if isinstance(e, Heard)]
    stretches = sorted(caller.voice, key=lambda v: v["start_ms"])
    out = []
    for i, v in enumerate(stretches):
        end = v["end_ms"]
        end_frame = end // FRAME_MS
        if end_frame >= n or active[max(0, end_frame - 2) : end_frame + 1].any():
            continue
        later = [s["start_ms"] for s in stretches[i + 1 :] if s["start_ms"] > end]
        limit = min(later) // FRAME_MS if later else n
        after = np.flatnonzero(active[end_frame + 1 : limit])
        if not after.size:
            continue
        first_ms = (end_frame + 1 + int(after[0])) * FRAME_MS
        answered = [h for h in heard if end <= h.at_ms <= first_ms]
        asr = sum(h.asr_ms for h in answered)
        estimate = first_ms - end
        if answered:
            # A live call recognises while the audio goes on: the decision is ready when both the
            # simulated wait is over and the recognition begun at ``recognized_at_ms`` (the first
            # pause, when it was reused at the hang-over) has run; the agent's audio follows it.
            last = answered[-1]
            ready = max(last.at_ms, last.recognized_at_ms + asr)
            estimate = ready + (first_ms - last.at_ms) - end
        out.append({"question": v["question"], "wav": v["wav"], "voice_end_ms": end, "agent_ms": first_ms,
                    "gap_ms": first_ms - end, "asr_ms": asr, "estimate_ms": estimate})
    return out
