"""Caller scripts: a whole simulated call's caller side kept as data (YAML), loaded and validated.

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
prompt began instead of after it ended. ``confirm`` answers a read-back («Entendí que nos da un
cuatro. ¿Es correcto?») truthfully: ``yes`` when the value read back is what the caller means, else ``no``.

Playing a script in a call is ``scripted_caller.py``; scoring a call against it, ``script_check.py``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .dialogue.survey import CustomerContext
from .understand.parser import REQUESTS

QUESTIONS = ("consent", "score", "resolved", "feedback", "offer_human")
YES_NO = ("consent", "resolved", "offer_human")
TOP_KEYS = {"description", "voice", "customer", "line", "expect", "confirm", *QUESTIONS}
CUSTOMER_KEYS = {"name", "topic", "hour"}
LINE_DEFAULTS = {"snr_db": 30.0, "loss": 0.0, "seed": 0}
EXPECT_KEYS = {"consent", "score", "resolved", "feedback", "offer_human", "opt_out", "outcome", "transferred",
               "ticket", "callback"}
HELD_OUT_VOICES = {"ef_dora"}   # never used while tuning the agent; em_santa, em_alex, espeak are dev
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
