"""The survey as a state machine: understandings, keys and time-outs in; events out.

It knows nothing of audio or SIP. The session plays the ``Say``/``PlayTune`` events, stores every
``AnswerRecorded`` at once, and carries out ``Transfer``/``Hangup``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..events import AnswerRecorded, Event, Hangup, PlayTune, Say, TicketOpened, Transfer
from ..understand.feedback import analyze_feedback
from ..understand.parser import Understanding
from .script import Closing, Question, SurveyScript

MAX_REPEATS = 3
_ANSWER_INTENTS = {"yes_no": ("yes", "no"), "score": ("score",)}


@dataclass
class CustomerContext:
    """Who is called, and what the prompts may say about them."""

    company: str
    name: str | None = None
    customer_id: str | None = None
    phone: str | None = None
    topic: str | None = None
    local_hour: int = 10
    callback_number: str | None = None  # the company's number, said in a voicemail message

    @property
    def salutation(self) -> str:
        if self.local_hour < 12:
            return "Buenos días"
        return "Buenas tardes" if self.local_hour < 19 else "Buenas noches"

    def fill(self, template: str, **extra: str) -> str:
        text = template.format(saludo=self.salutation, nombre=self.name or "", empresa=self.company,
                               tema=self.topic or "", nombre_coma=f", {self.name}" if self.name else "",
                               telefono=self.callback_number or "", **{"devolver": "", **extra})
        return " ".join(text.split())


@dataclass
class SurveyResult:
    consent: bool | None = None
    score: int | None = None
    resolved: bool | None = None
    feedback: str | None = None
    feedback_analysis: dict[str, Any] | None = None  # topic tags and sentiment of the feedback
    offer_human: bool | None = None
    opt_out: bool = False
    outcome: str | None = None
    transferred: bool = False
    ticket: bool = False
    callback: dict[str, Any] | None = None
    via: dict[str, str] = field(default_factory=dict)  # question → "voice" / "dtmf"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SurveyDialogue:
    def __init__(self, script: SurveyScript, customer: CustomerContext, transfer_enabled: bool = True) -> None:
        self.script = script
        self.customer = customer
        self.transfer_enabled = transfer_enabled
        self.result = SurveyResult()
        self.awaiting: Question | None = None
        self.finished = False
        self._retries = 0
        self._repeats = 0

    # -- helpers -------------------------------------------------------------------------------
    def _say(self, now_ms: int, prompt_id: str, text: str | None = None, interruptible: bool = True) -> Say:
        template = text if text is not None else self.script.prompts[prompt_id]
        return Say(now_ms, prompt_id, self.customer.fill(template), interruptible)

    def _question_prompt(self, q: Question, now_ms: int) -> Say:
        if q.prompt_with_topic and self.customer.topic:
            return self._say(now_ms, f"{q.id}.prompt_with_topic", q.prompt_with_topic)
        return self._say(now_ms, f"{q.id}.prompt", q.prompt)

    def _ask(self, qid: str, now_ms: int) -> list[Event]:
        q = self.script.questions[qid]
        self.awaiting, self._retries, self._repeats = q, 0, 0
        return [self._question_prompt(q, now_ms)]

    def _go(self, target: str, now_ms: int) -> list[Event]:
        if target == "after_survey":
            target = self._after_survey_target()
        if target in self.script.questions:
            return self._ask(target, now_ms)
        return self._close(self.script.closings[target], now_ms)

    def _after_survey_target(self) -> str:
        rules = self.script.after_survey
        score, resolved = self.result.score, self.result.resolved
        unhappy = (score is not None and score <= int(rules["low_score"])) or resolved is False
        if unhappy:
            return rules["offer_human"] if self.transfer_enabled else rules["no_transfer"]
        if score is None:
            return rules["no_score"]
        return rules["by_score"][score]

    def _close(self, closing: Closing, now_ms: int) -> list[Event]:
        self.awaiting = None
        self.finished = True
        self.result.outcome = closing.outcome
        events: list[Event] = []
        if closing.tune:
            events.append(PlayTune(now_ms, closing.tune))
        events.append(self._say(now_ms, closing.prompt, interruptible=False))
        if closing.ticket:
            self.result.ticket = True
            events.append(TicketOpened(now_ms, self._ticket_reason()))
        if closing.transfer:
            self.result.transferred = True
            events.append(Transfer(now_ms, self._ticket_reason()))
        else:
            events.append(Hangup(now_ms, closing.outcome))
        return events

    def _ticket_reason(self) -> str:
        r = self.result
        parts = []
        if r.score is not None:
            parts.append(f"score {r.score}")
        if r.resolved is False:
            parts.append("not resolved")
        return ", ".join(parts) or "customer asked for a person"

    def _record(self, now_ms: int, question: str, value: Any, text: str, via: str) -> AnswerRecorded:
        setattr(self.result, question, value)
        self.result.via[question] = via
        return AnswerRecorded(now_ms, question, value, text, via)

    def _retry(self, now_ms: int, no_match: bool) -> list[Event]:
        q = self.awaiting
        assert q is not None
        if self._retries >= q.max_retries:
            return self._go(q.on_no_answer, now_ms)
        self._retries += 1
        events: list[Event] = [self._say(now_ms, "no_match")] if no_match else []
        events.append(self._say(now_ms, f"{q.id}.reprompt", q.reprompt))
        return events

    # -- inputs --------------------------------------------------------------------------------
    def start(self, now_ms: int = 0) -> list[Event]:
        greeting = "greeting" if self.customer.name else "greeting_generic"
        return [self._say(now_ms, greeting)] + self._ask(self.script.start, now_ms)

    def on_understanding(self, u: Understanding, now_ms: int, via: str = "voice") -> list[Event]:
        """React to what the caller said (or keyed) while a question was open."""
        q = self.awaiting
        if q is None or self.finished:
            return []
        if u.intent == "opt_out":
            self.result.opt_out = True
            return [AnswerRecorded(now_ms, "opt_out", True, u.text, via)] + self._go("closing_opt_out", now_ms)
        if u.intent == "human":
            return self._go("transfer" if self.transfer_enabled else self.script.after_survey["no_transfer"], now_ms)
        if u.intent == "wrong_person":
            return self._go("closing_wrong_person", now_ms)
        if u.intent == "callback_later" and q.kind != "free":
            self.result.callback = dict(u.slots)
            return [AnswerRecorded(now_ms, "callback", dict(u.slots), u.text, via)] + self._go("closing_callback", now_ms)
        if u.intent == "repeat":
            self._repeats += 1
            if self._repeats > MAX_REPEATS:
                return self._retry(now_ms, no_match=True)
            return [self._say(now_ms, "repeat_intro"), self._question_prompt(q, now_ms)]
        if q.kind == "free":
            if u.intent == "silence" or not u.text.strip():
                return self._retry(now_ms, no_match=False)
            analysis = analyze_feedback(u.text).to_dict()  # topic tags and sentiment, for the reports
            self.result.feedback_analysis = analysis
            return [self._record(now_ms, q.id, u.text.strip(), u.text, via),
                    AnswerRecorded(now_ms, "feedback_analysis", analysis, "", via),
                    *self._go(q.next_after(""), now_ms)]
        if u.intent in _ANSWER_INTENTS[q.kind]:
            if q.kind == "score":
                value: Any = int(u.slots["score"])
                label = str(value)
            else:
                value, label = u.intent == "yes", u.intent
            events: list[Event] = [self._record(now_ms, q.id, value, u.text, via)]
            return events + self._go(q.next_after(label), now_ms)
        return self._retry(now_ms, no_match=u.intent != "silence")

    def on_key(self, digit: str, now_ms: int) -> list[Event]:
        q = self.awaiting
        if q is None or self.finished:
            return []
        meaning = q.keys.get(digit, self.script.global_keys.get(digit))
        if meaning is None and q.kind == "free":
            return self._go(q.on_no_answer, now_ms)  # any key: "no comments"
        if meaning is None:
            return self._retry(now_ms, no_match=True)
        if meaning in ("repeat", "human"):
            u = Understanding(meaning, text=f"DTMF {digit}", confidence=1.0)
        elif q.kind == "score":
            u = Understanding("score", {"score": int(meaning)}, 1.0, f"DTMF {digit}")
        else:
            u = Understanding(str(meaning), {}, 1.0, f"DTMF {digit}")
        return self.on_understanding(u, now_ms, via="dtmf")

    def on_no_input(self, now_ms: int) -> list[Event]:
        if self.awaiting is None or self.finished:
            return []
        return self._retry(now_ms, no_match=False)

    def on_transfer_failed(self, now_ms: int) -> list[Event]:
        """The human queue did not take the call: apologise, open a ticket, end the call."""
        self.result.transferred = False
        self.result.ticket = True
        self.result.outcome = "transfer_failed"
        return [self._say(now_ms, "closing_transfer_failed", interruptible=False),
                TicketOpened(now_ms, "transfer failed; " + self._ticket_reason()),
                Hangup(now_ms, "transfer_failed")]

    def leave_voicemail(self, now_ms: int) -> list[Event]:
        """An answering machine took the call: the preset message, then hang up."""
        self.finished = True
        self.result.outcome = "voicemail"
        callback = ""
        if self.customer.callback_number:
            callback = self.customer.fill(self.script.prompts["voicemail_callback"])
        text = self.customer.fill(self.script.prompts["voicemail"], devolver=callback)
        return [Say(now_ms, "voicemail", text, interruptible=False), Hangup(now_ms, "voicemail")]

    def carrier_intercept(self, now_ms: int) -> list[Event]:
        """The carrier says the number does not exist: hang up, nothing to say."""
        self.finished = True
        self.result.outcome = "invalid_number"
        return [Hangup(now_ms, "invalid_number")]

    def on_caller_hangup(self, now_ms: int) -> None:
        if not self.finished:
            self.finished = True
            self.awaiting = None
            self.result.outcome = "hung_up"
