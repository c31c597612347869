"""The scripted caller in a call: a caller script (``caller_script.py``) played into ``CallSession``
frame by frame, and one whole scripted call run and scored (``script_check.py``).

The caller answers each new prompt once the agent waits for an answer and a human gap (400 ms) has
passed; a question the script does not cover gets silence. Each WAV is read at 16 kHz and passed
through the script's phone line; a read-back is answered truthfully (``confirm_answer``).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .audio import FRAME_MS, SAMPLE_RATE
from .caller_script import CallerScript, CallerScriptError, Turn, load_caller_script
from .dialogue.survey import CustomerContext
from .runtime import Runtime
from .script_check import confirm_answer, score_call
from .session import CallSession, EventSink
from .simulate import HUMAN_GAP_MS, Caller, SimulatedCall, Voice, drive

KEY_GAP_MS = 300                # between two digits of one {keys: …}


# -- audio -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Clip:
    audio: np.ndarray     # float32 at 16 kHz, through the script's phone line
    voice_start_ms: int   # where the voice starts and ends in it (measured on the clean recording)
    voice_end_ms: int


def voiced_span(audio: np.ndarray, rate: int = SAMPLE_RATE) -> tuple[int, int]:
    """First and last voiced millisecond: 10 ms windows within 26 dB of the loudest one."""
    hop = rate // 100
    n = len(audio) // hop
    if n == 0:
        return 0, 0
    rms = np.sqrt(np.mean(np.asarray(audio[: n * hop], dtype=np.float64).reshape(n, hop) ** 2, axis=1))
    voiced = np.flatnonzero(rms > max(rms.max() * 0.05, 1e-4))
    if not voiced.size:
        return 0, 0
    return int(voiced[0] * 10), int((voiced[-1] + 1) * 10)


def load_script_audio(script: CallerScript) -> dict[Path, Clip]:
    """Every WAV of the script, read at 16 kHz and passed through its phone line (μ-law, band-pass,
    noise at ``snr_db``, ``loss`` of 20 ms frames lost and concealed); seeded per file."""
    from .audio.phoneline import phone_line
    from .audio.wavio import AudioFormatError, read_wav

    missing = script.missing_audio()
    if missing:
        shown = ", ".join(str(p) for p in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise CallerScriptError(f"{script.path}: missing audio {shown} "
                                f"(make it with `python -m bench.caller_audio` for bench scripts)")
    clips = {}
    line = script.line
    for k, path in enumerate(script.wavs()):
        try:
            clean, _ = read_wav(path, SAMPLE_RATE)
        except (AudioFormatError, OSError) as e:
            raise CallerScriptError(f"{script.path}: {path}: {e}") from None
        start, end = voiced_span(clean)
        audio = phone_line(clean, SAMPLE_RATE, snr_db=line["snr_db"], loss=line["loss"], conceal=True,
                           seed=int(line["seed"]) + k, out_rate=SAMPLE_RATE)
        clips[path] = Clip(audio.astype(np.float32, copy=False), start, end)
    return clips


# -- the caller --------------------------------------------------------------------------------
@dataclass
class _Plan:
    question: str         # the awaited question's id ("confirm" for a read-back)
    key: tuple            # which list of turns (and which use of it) this is
    index: int
    turn: Turn
    reply: str | None = None          # "yes"/"no" to a read-back
    confirming: tuple | None = None   # (question, value) read back


def prompt_playing(session: CallSession) -> str | None:
    """The prompt id of the agent audio playing now, from the session's playback bookkeeping, or None."""
    return getattr(session, "prompt_playing", None)


class ScriptedCaller(Caller):
    """Answers each new prompt with the script's next turn for the awaited question (or confirmation)."""

    def __init__(self, script: CallerScript, clips: dict[Path, Clip], gap_ms: int = HUMAN_GAP_MS) -> None:
        super().__init__(gap_ms)
        self.script, self.clips = script, clips
        self.used: Counter = Counter()
        self.last_question: str | None = None
        self.log: list[dict[str, Any]] = []       # one entry per turn taken (or let pass)
        self.voice: list[dict[str, Any]] = []     # every stretch of voice: start/end ms, question, wav
        self._answered = 0                         # prompts said when the caller last took a turn
        self._plan: _Plan | None = None
        self._plan_for = -1
        self._began_ms: int | None = None          # when the prompt to answer began playing
        self._active: _Plan | None = None
        self._item = 0
        self._voice_end: int | None = None         # where the voice of the turn in progress ends (ms)
        self._speaking: Voice | None = None
        self._silence_left = 0
        self._key_pos = 0
        self._key_wait = 0

    # -- choosing ----------------------------------------------------------------------------
    def _choose(self, session: CallSession) -> _Plan | None:
        dialogue = session.dialogue
        q = dialogue.awaiting
        confirming = getattr(dialogue, "confirming", None)
        if confirming is not None or q.id == "confirm":
            if confirming is None or not self.script.confirm:
                return None
            reply = confirm_answer(self.script, confirming, self.last_question)
            turns = self.script.confirm[reply]
            key = ("confirm", reply, confirming.question)
            plan = _Plan("confirm", key, 0, turns[0], reply, (confirming.question, confirming.value))
        else:
            part = self.script.questions.get(q.id)
            if part is None:
                return None
            turns, key = part.say, (q.id,)
            plan = _Plan(q.id, key, 0, turns[0])
        plan.index = min(self.used[key], len(turns) - 1)
        plan.turn = turns[plan.index]
        return plan

    def step(self, session: CallSession, frame: np.ndarray) -> None:
        self.watch(session)
        if self._active is None:
            self._consider(session)
        if self._active is not None:
            self._advance(session, frame)

    def _consider(self, session: CallSession) -> None:
        q = session.dialogue.awaiting
        if q is None or self.prompts_said <= self._answered:
            return
        if self._plan_for != self.prompts_said or (self._plan is not None and self._plan.question != (
                "confirm" if getattr(session.dialogue, "confirming", None) is not None else q.id)):
            self._plan, self._plan_for, self._began_ms = self._choose(session), self.prompts_said, None
            self.reset_gap()
        if self._plan is None:  # nothing scripted for this: the caller stays silent
            self._answered = self.prompts_said
            self.log.append({"at_ms": session.now_ms, "question": q.id, "turn": None, "said": "(nothing scripted)"})
            return
        start = False
        over = self._plan.turn.over_prompt
        if over is not None and self.last_prompt is not None:
            if self._began_ms is None:
                if not hasattr(session, "prompt_playing"):
                    self._began_ms = self.last_prompt.at_ms
                elif prompt_playing(session) == self.last_prompt.prompt:
                    self._began_ms = session.now_ms
            start = self._began_ms is not None and session.now_ms - self._began_ms >= over * 1000
        if not start:
            start = self.gap_passed(session)
        if start:
            self._start(session)

    # -- speaking ----------------------------------------------------------------------------
    def _start(self, session: CallSession) -> None:
        plan, self._plan = self._plan, None
        assert plan is not None
        self.used[plan.key] += 1
        self._answered = self.prompts_said
        if plan.reply is None:
            self.last_question = plan.question
        self.reset_gap()
        entry = {"at_ms": session.now_ms, "question": plan.question, "turn": plan.index,
                 "said": plan.turn.describe(), "prompt": self.last_prompt.prompt if self.last_prompt else None}
        if plan.reply is not None:
            entry.update(reply=plan.reply, confirming={"question": plan.confirming[0], "value": plan.confirming[1]})
        self.log.append(entry)
        self._active, self._item, self._voice_end = plan, 0, None
        self._enter(session, session.now_ms)

    def _enter(self, session: CallSession, at_ms: int) -> None:
        item = self._active.turn.items[self._item]
        if item.kind == "wav":
            clip = self.clips[item.value]
            self._speaking = Voice(clip.audio)
            self.voice.append({"start_ms": at_ms + clip.voice_start_ms, "end_ms": at_ms + clip.voice_end_ms,
                               "question": self._active.question, "wav": item.value.name})
            self._voice_end = at_ms + clip.voice_end_ms
        elif item.kind == "silence":
            self._silence_left = max(1, round(item.value * 1000 / FRAME_MS))
        else:
            self._key_pos, self._key_wait = 0, 0

    def _next(self, session: CallSession) -> None:
        self._item += 1
        if self._item >= len(self._active.turn.items):
            # A prompt that began before the caller's voice ended was talked over, not heard: the caller
            # waits for the agent's next one (an agent that took the first words as the whole answer
            # says its reply again once it has the rest). Prompts begun after it are answered.
            if self._voice_end is not None:
                over = sum(1 for t in self.prompt_times if t < self._voice_end)
                self._answered = max(self._answered, over)
            self._active = None
            return
        self._enter(session, session.now_ms + FRAME_MS)  # it starts with the next frame

    def _advance(self, session: CallSession, frame: np.ndarray) -> None:
        item = self._active.turn.items[self._item]
        if item.kind == "wav":
            if self._speaking.add_to(frame):
                self._speaking = None
                self._next(session)
        elif item.kind == "silence":
            self._silence_left -= 1
            if self._silence_left <= 0:
                self._next(session)
        elif self._key_wait > 0:
            self._key_wait -= 1
        else:
            session.push_dtmf(item.value[self._key_pos])
            self._key_pos += 1
            if self._key_pos >= len(item.value):
                self._next(session)
            else:
                self._key_wait = KEY_GAP_MS // FRAME_MS - 1


def run_scripted_call(runtime: Runtime, script: CallerScript | str | Path, sinks: list[EventSink] | None = None,
                      call_id: str | None = None, customer: CustomerContext | None = None) -> SimulatedCall:
    """One whole call with the scripted caller, through the same ``CallSession`` a phone call uses;
    ``call.script_check`` is ``score_call`` of it. ``customer`` overrides the script's."""
    if not isinstance(script, CallerScript):
        script = load_caller_script(script)
    clips = load_script_audio(script)
    customer = customer or script.customer_context(runtime.options.company)
    session = runtime.new_session(customer, sinks)
    caller = ScriptedCaller(script, clips)
    drive(session, caller, seed=int(script.line["seed"]))
    call = SimulatedCall(call_id or uuid.uuid4().hex[:12], session, caller)
    call.script_check = score_call(script, call, survey=runtime.script,
                                   transfer_enabled=runtime.options.transfer_enabled)
    return call
