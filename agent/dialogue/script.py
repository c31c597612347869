"""The survey script (``prompts/es_MX/survey.yaml``) as typed, validated data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..prompts_data import load_yaml

QUESTION_KINDS = ("yes_no", "score", "free")


@dataclass(frozen=True)
class Question:
    id: str
    kind: str
    prompt: str
    reprompt: str
    next: str | dict[str, str]
    on_no_answer: str
    keys: dict[str, Any] = field(default_factory=dict)
    phrases: dict[str, list[str]] = field(default_factory=dict)
    prompt_with_topic: str | None = None
    max_retries: int = 2
    no_input_ms: int = 5000
    asr_context: str = ""  # words that prime the recogniser (Whisper "previous text")
    keypad: str | None = None  # the re-prompt after a missed answer: asks for the keypad
    others: tuple[str, ...] = ()  # out-of-grammar phrases scored as "none of the candidates"

    def next_after(self, label: str) -> str:
        if isinstance(self.next, dict):
            return self.next[label]
        return self.next


@dataclass(frozen=True)
class Closing:
    id: str
    prompt: str
    outcome: str
    tune: str | None = None
    ticket: bool = False
    transfer: bool = False


@dataclass(frozen=True)
class PrivacyNoticeText:
    """The privacy notice's words: ``prompt`` with ``{empresa}`` and ``{donde}``; ``{donde}`` is
    ``where_url`` (``{url}``) or ``where_phone`` (``{telefono}``); ``url_words`` say a URL's symbols."""

    prompt: str
    where_url: str
    where_phone: str
    url_words: dict[str, str] = field(default_factory=dict)

    def say_url(self, url: str) -> str:
        """``https://www.ejemplo.mx/privacidad`` → ``ejemplo punto mx diagonal privacidad``."""
        spoken = url.split("://", 1)[-1].rstrip("/")
        spoken = spoken[4:] if spoken.lower().startswith("www.") else spoken
        for symbol, words in self.url_words.items():
            spoken = spoken.replace(symbol, words)
        return " ".join(spoken.split())


@dataclass
class SurveyScript:
    start: str
    prompts: dict[str, str]
    questions: dict[str, Question]
    closings: dict[str, Closing]
    global_keys: dict[str, str]
    global_phrases: dict[str, list[str]]
    after_survey: dict[str, Any]
    tunes: dict[str, list[tuple[float, int]]]
    confirm: Question | None = None   # the read-back question (id "confirm"), when the script has one
    read_back: dict[str, Any] = field(default_factory=dict)  # what "Entendí …" says, by question
    score_words: dict[int, str] = field(default_factory=dict)
    privacy_notice: PrivacyNoticeText | None = None
    version: int = 1

    @classmethod
    def load(cls, name: str = "survey.yaml") -> "SurveyScript":
        return cls.from_dict(load_yaml(name))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SurveyScript":
        max_retries = int(data.get("max_retries", 2))
        no_input_ms = int(data.get("no_input_ms", 5000))
        questions = {qid: cls._question(qid, q, max_retries, no_input_ms) for qid, q in data["questions"].items()}
        closings = {cid: Closing(id=cid, **c) for cid, c in data["closings"].items()}
        script = cls(
            start=data["start"], prompts=dict(data["prompts"]), questions=questions, closings=closings,
            global_keys={str(k): v for k, v in data.get("keys", {}).items()},
            global_phrases={k: list(v) for k, v in data.get("global_phrases", {}).items()},
            after_survey=dict(data["after_survey"]),
            tunes={k: [(float(f), int(ms)) for f, ms in v] for k, v in data.get("tunes", {}).items()},
            version=int(data.get("version", 1)),
        )
        if "confirm" in data:
            confirm = dict(data["confirm"])
            script.read_back = dict(confirm.pop("read_back", {}))
            script.score_words = {int(k): str(v) for k, v in confirm.pop("score_words", {}).items()}
            script.confirm = cls._question("confirm", {"kind": "yes_no", "next": "after_survey", **confirm},
                                           max_retries, no_input_ms)
        if "privacy_notice" in data:
            notice = dict(data["privacy_notice"])
            script.privacy_notice = PrivacyNoticeText(
                prompt=notice["prompt"], where_url=notice["where_url"], where_phone=notice["where_phone"],
                url_words={str(k): str(v) for k, v in (notice.get("url_words") or {}).items()})
        script.validate()
        return script

    @staticmethod
    def _question(qid: str, q: dict[str, Any], max_retries: int, no_input_ms: int) -> Question:
        if q["kind"] not in QUESTION_KINDS:
            raise ValueError(f"question {qid}: unknown kind {q['kind']!r}")
        return Question(
            id=qid, kind=q["kind"], prompt=q["prompt"], reprompt=q.get("reprompt", q["prompt"]),
            next=q["next"], on_no_answer=q.get("on_no_answer", q["next"] if isinstance(q["next"], str) else ""),
            keys={str(k): v for k, v in (q.get("keys") or {}).items()},
            phrases={str(k): list(v) for k, v in (q.get("phrases") or {}).items()},
            prompt_with_topic=q.get("prompt_with_topic"),
            max_retries=int(q.get("max_retries", max_retries)),
            no_input_ms=int(q.get("no_input_ms", no_input_ms)),
            asr_context=q.get("asr_context", ""),
            keypad=q.get("keypad"),
            others=tuple(q.get("others") or ()),
        )

    def validate(self) -> None:
        """Every target named in the script exists; every prompt a closing names is defined."""
        targets = set(self.questions) | set(self.closings) | {"after_survey"}
        for q in self.questions.values():
            nexts = list(q.next.values()) if isinstance(q.next, dict) else [q.next]
            for t in nexts + [q.on_no_answer]:
                if t not in targets:
                    raise ValueError(f"question {q.id}: unknown next step {t!r}")
        for c in self.closings.values():
            if c.prompt not in self.prompts:
                raise ValueError(f"closing {c.id}: unknown prompt {c.prompt!r}")
            if c.tune and c.tune not in self.tunes:
                raise ValueError(f"closing {c.id}: unknown tune {c.tune!r}")
        if self.start not in self.questions:
            raise ValueError(f"start {self.start!r} is not a question")
