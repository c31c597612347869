"""Caller scripts: a whole simulated call's caller side kept as data (YAML), run and scored.

A script says, for each question the agent may ask, what the caller ``means`` (the true answer) and
what it ``say``s each time that question is asked (the last turn repeats)::

    description: Sí… claro (a pause inside the answer), then a four.
    voice: em_santa                       # tag: dev (em_santa, em_alex, espeak) / held-out (ef_dora)
    customer: {name: Ana López, topic: su servicio de internet}
    line: {snr_db: 20, loss: 0.03, seed: 7}   # default: {snr_db: 30, loss: 0, seed: 0}
    consent: {means: yes, say: [[audio/santa_si.wav, {silence: 0.6}, audio/santa_claro.wav]]}
    score: {means: 4, say: [audio/santa_ocho.wav, {keys: "4"}]}
    resolved: {means: no, say: [[{over_prompt: 1.5}, audio/santa_no.wav]]}
    feedback: {means: "que lleguen a tiempo", say: [audio/santa_fb_tiempo.wav]}
    offer_human: {means: no, say: [audio/santa_no_gracias.wav]}
    confirm: {yes: [audio/santa_si.wav, {keys: "1"}], no: [audio/santa_no.wav, {keys: "2"}]}
    expect: {outcome: completed}

``means``: yes / no (consent, resolved, offer_human), 1–5 (score), the text (feedback; null for no
comment), or a request said instead of an answer: ``opt_out``, ``human``, ``wrong_person``,
``callback_later``. A turn is a WAV path (relative to the YAML), ``{keys: "4"}``, ``{silence: S}``, or a
list of those spoken back to back; ``{over_prompt: S}`` first in a turn starts it S seconds after the
prompt began instead of after it ended. ``confirm`` answers a read-back («Entendí cuatro, ¿es
correcto?») truthfully: ``yes`` when the value read back is what the caller means, else ``no``.

The caller answers each new prompt once the agent waits for an answer and a human gap (400 ms) has
passed; a question the script does not cover gets silence.
"""

from __future__ import annotations

import math
import re
import unicodedata
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .audio import FRAME_MS, SAMPLE_RATE
from .dialogue.script import SurveyScript
from .dialogue.survey import Confirmation, CustomerContext, SurveyDialogue, SurveyResult
from .events import Heard
from .runtime import Runtime
from .session import CallSession, EventSink
from .simulate import HUMAN_GAP_MS, Caller, SimulatedCall, Voice, drive
from .understand.parser import Understanding

QUESTIONS = ("consent", "score", "resolved", "feedback", "offer_human")
YES_NO = ("consent", "resolved", "offer_human")
REQUESTS = ("opt_out", "human", "wrong_person", "callback_later")
TOP_KEYS = {"description", "voice", "customer", "line", "expect", "confirm", *QUESTIONS}
CUSTOMER_KEYS = {"name", "topic", "hour"}
LINE_DEFAULTS = {"snr_db": 30.0, "loss": 0.0, "seed": 0}
EXPECT_KEYS = {"consent", "score", "resolved", "feedback", "offer_human", "opt_out", "outcome", "transferred",
               "ticket", "callback"}
HELD_OUT_VOICES = {"ef_dora"}   # never used while tuning the agent; em_santa, em_alex, espeak are dev
KEY_GAP_MS = 300                # between two digits of one {keys: …}
FEEDBACK_RECALL = 0.5           # share of the meant feedback's words the stored text must contain
_DIGITS = re.compile(r"^[0-9*#]+$")


class CallerScriptError(ValueError):
    """A caller script that cannot be used: the message names the file and the key."""


# -- the script as data --------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    kind: str            # "wav" | "keys" | "silence"
    value: Any           # Path | digits | seconds


@dataclass(frozen=True)
class Turn:
    items: tuple[Item, ...]
    over_prompt: float | None = None   # seconds after the prompt began; None: after it ended

    def describe(self) -> str:
        parts = [] if self.over_prompt is None else [f"over_prompt {self.over_prompt:g}s"]
        for item in self.items:
            parts.append(item.value.name if item.kind == "wav" else
                         f"keys {item.value}" if item.kind == "keys" else f"silence {item.value:g}s")
        return " + ".join(parts)


@dataclass(frozen=True)
class ScriptedQuestion:
    means: Any                  # "yes" | "no" | 1..5 | text | None (no comment) | a request
    say: tuple[Turn, ...]


@dataclass
class CallerScript:
    path: Path
    questions: dict[str, ScriptedQuestion]
    confirm: dict[str, tuple[Turn, ...]] = field(default_factory=dict)   # "yes" / "no"
    customer: dict[str, Any] = field(default_factory=dict)
    line: dict[str, Any] = field(default_factory=lambda: dict(LINE_DEFAULTS))
    expect: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    voice: str | None = None

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def group(self) -> str:
        return "held_out" if self.voice in HELD_OUT_VOICES else "dev"

    def turns(self) -> list[Turn]:
        out = [t for q in self.questions.values() for t in q.say]
        return out + [t for turns in self.confirm.values() for t in turns]

    def wavs(self) -> list[Path]:
        """Every WAV the script references, once each, in order of appearance."""
        seen: dict[Path, None] = {}
        for turn in self.turns():
            for item in turn.items:
                if item.kind == "wav":
                    seen.setdefault(item.value)
        return list(seen)

    def missing_audio(self) -> list[Path]:
        return [p for p in self.wavs() if not p.is_file()]

    def customer_context(self, company: str) -> CustomerContext:
        c = self.customer
        return CustomerContext(company=company, name=c.get("name"), topic=c.get("topic"),
                               local_hour=int(c.get("hour", 10)))

    def means(self, question: str | None) -> Any:
        part = self.questions.get(question or "")
        return part.means if part is not None else None


def _fail(path: Path, key: str, message: str) -> CallerScriptError:
    return CallerScriptError(f"{path}: {key}: {message}" if key else f"{path}: {message}")


def _number(path: Path, key: str, value: Any, minimum: float = 0.0, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(path, key, f"expected a number of seconds, got {value!r}")
    if value < minimum or (strict and value == minimum):
        raise _fail(path, key, f"must be {'>' if strict else '≥'} {minimum:g}, got {value!r}")
    return float(value)


def _item(path: Path, key: str, raw: Any, position: int, count: int) -> Item | float:
    """One turn item; an ``over_prompt`` comes back as its seconds."""
    if isinstance(raw, str):
        if not raw.lower().endswith(".wav"):
            raise _fail(path, key, f"{raw!r} is not a WAV path (a string must name a .wav file)")
        return Item("wav", (path.parent / raw).resolve())
    if isinstance(raw, dict) and len(raw) == 1:
        (kind, value), = raw.items()
        if kind == "keys":
            digits = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
            if not _DIGITS.match(digits):
                raise _fail(path, key, f"keys must be digits 0-9, * or # (quote them: {{keys: \"4\"}}), got {value!r}")
            return Item("keys", digits)
        if kind == "silence":
            return Item("silence", _number(path, key + ".silence", value, strict=True))
        if kind == "over_prompt":
            if position != 0 or count < 2:
                raise _fail(path, key, "over_prompt must come first in a turn, before what is said "
                                       "(e.g. [{over_prompt: 2}, audio/x.wav])")
            return _number(path, key + ".over_prompt", value)
    if isinstance(raw, list):
        raise _fail(path, key, "a turn's items cannot themselves be lists")
    raise _fail(path, key, f"expected a WAV path, {{keys: \"…\"}}, {{silence: S}} or {{over_prompt: S}}, got {raw!r}")


def _turn(path: Path, key: str, raw: Any) -> Turn:
    items_raw = raw if isinstance(raw, list) else [raw]
    if not items_raw:
        raise _fail(path, key, "an empty turn (say nothing with {silence: S})")
    items: list[Item] = []
    over = None
    for i, r in enumerate(items_raw):
        parsed = _item(path, f"{key}[{i}]" if isinstance(raw, list) else key, r, i, len(items_raw))
        if isinstance(parsed, float):
            over = parsed
        else:
            items.append(parsed)
    return Turn(tuple(items), over)


def _turns(path: Path, key: str, raw: Any) -> tuple[Turn, ...]:
    if raw is None:
        raise _fail(path, key, "missing: a list of turns")
    raws = raw if isinstance(raw, list) else [raw]
    if not raws:
        raise _fail(path, key, "an empty list of turns")
    return tuple(_turn(path, f"{key}[{i}]", r) for i, r in enumerate(raws))


def _yes_no(value: Any) -> str | None:
    if value is True or (isinstance(value, str) and value.strip().lower() in ("yes", "sí", "si")):
        return "yes"
    if value is False or (isinstance(value, str) and value.strip().lower() == "no"):
        return "no"
    return None


def _means(path: Path, qid: str, raw: Any) -> Any:
    key = f"{qid}.means"
    if isinstance(raw, str) and raw in REQUESTS:
        if qid == "feedback" and raw == "callback_later":
            raise _fail(path, key, "callback_later is not heard at the open feedback question (it is feedback text)")
        return raw
    if qid in YES_NO:
        answer = _yes_no(raw)
        if answer is None:
            raise _fail(path, key, f"expected yes, no or one of {', '.join(REQUESTS)}, got {raw!r}")
        return answer
    if qid == "score":
        if isinstance(raw, str) and raw.strip().isdigit():
            raw = int(raw)
        if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 5:
            raise _fail(path, key, f"expected a score 1–5 or one of {', '.join(REQUESTS)}, got {raw!r}")
        return raw
    if raw is None or (isinstance(raw, str) and raw.strip()):
        return raw.strip() if isinstance(raw, str) else None
    raise _fail(path, key, f"expected the feedback text, null (no comment) or a request, got {raw!r}")


def _mapping(path: Path, key: str, raw: Any, allowed: set[str]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _fail(path, key, f"expected a mapping, got {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if str(k) not in allowed)
    if unknown:
        raise _fail(path, key, f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}")
    return {str(k): v for k, v in raw.items()}


def parse_caller_script(data: Any, path: str | Path) -> CallerScript:
    """Validate a loaded YAML document; every error names ``path`` and the key."""
    path = Path(path)
    if not isinstance(data, dict):
        raise _fail(path, "", "a caller script is a YAML mapping (question ids, confirm, customer, line, expect…)")
    data = {("yes" if k is True else "no" if k is False else str(k)): v for k, v in data.items()}
    unknown = sorted(k for k in data if k not in TOP_KEYS)
    if unknown:
        raise _fail(path, unknown[0], f"unknown key; known: {', '.join(sorted(TOP_KEYS))}")
    questions: dict[str, ScriptedQuestion] = {}
    for qid in QUESTIONS:
        if qid not in data:
            continue
        spec = data[qid]
        if not isinstance(spec, dict):
            raise _fail(path, qid, "expected {means: …, say: [turns]}")
        extra = sorted(str(k) for k in spec if k not in ("means", "say"))
        if extra:
            raise _fail(path, f"{qid}.{extra[0]}", "unknown key; a question has means and say")
        if "means" not in spec:
            raise _fail(path, f"{qid}.means", "missing: what the caller truly answers")
        questions[qid] = ScriptedQuestion(_means(path, qid, spec["means"]), _turns(path, f"{qid}.say", spec.get("say")))
    if not questions:
        raise _fail(path, "", f"no question is scripted (give at least one of {', '.join(QUESTIONS)})")
    confirm: dict[str, tuple[Turn, ...]] = {}
    if "confirm" in data:
        raw = data["confirm"]
        if not isinstance(raw, dict):
            raise _fail(path, "confirm", "expected {yes: [turns], no: [turns]}")
        raw = {_yes_no(k) or str(k): v for k, v in raw.items()}
        for answer in raw:
            if answer not in ("yes", "no"):
                raise _fail(path, f"confirm.{answer}", "unknown key; confirm has yes and no")
        for answer in ("yes", "no"):
            confirm[answer] = _turns(path, f"confirm.{answer}", raw.get(answer))
    customer = _mapping(path, "customer", data.get("customer"), CUSTOMER_KEYS)
    for k in ("name", "topic"):
        if k in customer and not isinstance(customer[k], str):
            raise _fail(path, f"customer.{k}", f"expected text, got {customer[k]!r}")
    if "hour" in customer and (not isinstance(customer["hour"], int) or not 0 <= customer["hour"] <= 23):
        raise _fail(path, "customer.hour", f"expected an hour 0–23, got {customer['hour']!r}")
    line = {**LINE_DEFAULTS, **_mapping(path, "line", data.get("line"), set(LINE_DEFAULTS))}
    if line["snr_db"] is not None:
        line["snr_db"] = _number(path, "line.snr_db", line["snr_db"], minimum=-20.0)
    line["loss"] = _number(path, "line.loss", line["loss"])
    if line["loss"] >= 0.5:
        raise _fail(path, "line.loss", f"a share of lost frames below 0.5, got {line['loss']!r}")
    if isinstance(line["seed"], bool) or not isinstance(line["seed"], int):
        raise _fail(path, "line.seed", f"expected an integer, got {line['seed']!r}")
    expect = _mapping(path, "expect", data.get("expect"), EXPECT_KEYS)
    for k, v in expect.items():
        if k in ("opt_out", "transferred", "ticket", "callback") and not isinstance(v, bool):
            raise _fail(path, f"expect.{k}", f"expected true or false, got {v!r}")
        if k in YES_NO:
            expect[k] = {"yes": True, "no": False}.get(_yes_no(v), v) if v is not None else None
        if k == "outcome" and not isinstance(v, str):
            raise _fail(path, "expect.outcome", f"expected an outcome name, got {v!r}")
    voice = data.get("voice")
    if voice is not None and not isinstance(voice, str):
        raise _fail(path, "voice", f"expected a voice name, got {voice!r}")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise _fail(path, "description", "expected text")
    return CallerScript(path, questions, confirm, customer, line, expect, description.strip(), voice)


def load_caller_script(path: str | Path) -> CallerScript:
    """Read and validate a caller script; ``CallerScriptError`` names the file and the key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise _fail(path, "", f"cannot read it ({e.strerror or e})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise _fail(path, "", f"not valid YAML: {e}") from None
    return parse_caller_script(data, path)


def load_caller_scripts(directory: str | Path) -> list[CallerScript]:
    """Every ``*.yaml`` script of ``directory`` (``phrases.yaml``, the audio recipe, excepted), by name."""
    paths = sorted(p for p in Path(directory).glob("*.yaml") if p.name != "phrases.yaml")
    return [load_caller_script(p) for p in paths]


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
    current = getattr(session, "_current_segment", None)
    segment = current() if current is not None else None
    return segment.prompt if segment is not None and session.playing else None


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
                if not hasattr(session, "_current_segment"):
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
    if not isinstance(caller, ScriptedCaller) or not caller.voice:
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
        asr = sum(h.asr_ms for h in heard if end <= h.at_ms <= first_ms)
        out.append({"question": v["question"], "wav": v["wav"], "voice_end_ms": end, "agent_ms": first_ms,
                    "gap_ms": first_ms - end, "asr_ms": asr, "estimate_ms": first_ms - end + asr})
    return out
