"""Events and actions of a call: small dataclasses, logged as JSON lines.

Inputs to the dialogue (``Heard``, ``Dtmf``, ``NoInput``) and outputs of the session
(``Say``, ``Transfer``, ``Hangup``, ``AnswerRecorded``) share one log so a call can be replayed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """Base of every logged event; ``at_ms`` is call time (ms since the call started)."""

    at_ms: int

    @property
    def kind(self) -> str:
        return type(self).__name__

    def to_json(self) -> str:
        return json.dumps({"event": self.kind, **asdict(self)}, ensure_ascii=False)


@dataclass(frozen=True)
class SpeechStarted(Event):
    continues: bool = False  # before the caller could hear our reply: the previous answer going on


@dataclass(frozen=True)
class SpeechEnded(Event):
    duration_ms: int
    level_dbfs: float = -120.0        # mean level of the utterance's voiced frames
    noise_floor_dbfs: float = -120.0  # the line's noise floor at that moment


@dataclass(frozen=True)
class Heard(Event):
    """What the caller said, understood in the context of ``question``."""

    question: str
    text: str
    intent: str
    slots: dict[str, Any] = field(default_factory=dict)
    confidence: float = 0.0
    asr_ms: int = 0
    early: bool = False   # taken at a pause, before the endpointing hang-over ended
    confirm: bool = False  # not sure enough to store: read back to the caller first
    continues: bool = False  # the previous answer said on: ``question`` decided again on all of it
    recognized_at_ms: int = 0  # when recognition began (at the first pause when that was reused)


@dataclass(frozen=True)
class Dtmf(Event):
    digit: str


@dataclass(frozen=True)
class NoInput(Event):
    question: str


@dataclass(frozen=True)
class Say(Event):
    """The agent starts speaking ``text`` (a prompt id from the survey script)."""

    prompt: str
    text: str
    interruptible: bool = True


@dataclass(frozen=True)
class PlayTune(Event):
    tune: str


@dataclass(frozen=True)
class BargeIn(Event):
    cause: str  # "speech" or "dtmf"
    prompt: str


@dataclass(frozen=True)
class EchoIgnored(Event):
    """Caller-side audio during ``prompt`` was the echo of the prompt itself (logged once per prompt)."""

    prompt: str
    score: float


@dataclass(frozen=True)
class AnswerRecorded(Event):
    question: str
    value: Any
    text: str = ""
    via: str = "voice"  # "voice" or "dtmf"


@dataclass(frozen=True)
class AnswerCorrected(Event):
    """A stored answer changed: the caller went on («Cuatro… no, cinco») or took it back. The
    ``AnswerRecorded`` that follows stores the new value; the store keeps both."""

    question: str
    previous: Any
    value: Any
    text: str = ""


@dataclass(frozen=True)
class ConfirmAsked(Event):
    """An answer read back before it is stored («Entendí que nos da un cuatro. ¿Es correcto?»)."""

    question: str
    value: Any
    text: str = ""


@dataclass(frozen=True)
class StopRecording(Event):
    """The caller asked not to be recorded («no quiero que me graben»): nothing more of the call is
    recorded, and what was recorded so far is dropped."""

    text: str = ""
    via: str = "voice"


@dataclass(frozen=True)
class Transfer(Event):
    reason: str


@dataclass(frozen=True)
class Hangup(Event):
    outcome: str


@dataclass(frozen=True)
class AmdVerdict(Event):
    """Who answered an outbound call: "human", "machine" or "unknown" (then greeted as a person)."""

    verdict: str
    reason: str
    intercept: bool = False


@dataclass(frozen=True)
class TicketOpened(Event):
    reason: str


class JsonLinesLog:
    """An event sink that appends each event to a JSON-lines file as it happens."""

    def __init__(self, path) -> None:
        from pathlib import Path

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

    def handle(self, event: Event) -> None:
        self._file.write(event.to_json() + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
