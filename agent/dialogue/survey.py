"""The survey as a state machine: understandings, keys and time-outs in; events out.

It knows nothing of audio or SIP. The session plays the ``Say``/``PlayTune`` events, stores every
``AnswerRecorded`` at once, and carries out ``Transfer``/``Hangup``.

What it stores is what it is sure of: an understanding marked ``confirm`` is read back first
(«Entendí que nos da un cuatro. ¿Es correcto?»), a missed closed answer is asked again for the keypad, and an answer
the caller goes on with is decided again from a ``checkpoint`` (``revise``), correcting what was stored.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..events import (AnswerCorrected, AnswerRecorded, ConfirmAsked, Event, Hangup, PlayTune, Say, StopRecording,
                      TicketOpened, Transfer)
from ..speak.normalize import speakable_name
from ..understand.feedback import analyze_feedback
from ..understand.parser import REQUESTS, Understanding
from .script import Closing, Question, SurveyScript

MAX_REPEATS = 3
_ANSWER_INTENTS = {"yes_no": ("yes", "no"), "score": ("score",)}
ANSWER_FIELDS = ("consent", "score", "resolved", "feedback", "offer_human")


@dataclass(frozen=True)
class PrivacyNotice:
    """Where the full privacy notice is (the serve config's ``privacy_notice_url`` /
    ``privacy_notice_phone``); with either, the notice is said right after the greeting."""

    url: str | None = None
    phone: str | None = None
    interruptible: bool = True

    @property
    def configured(self) -> bool:
        return bool(self.url or self.phone)


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
    privacy: PrivacyNotice | None = None  # the privacy notice said after the greeting, when configured

    def __post_init__(self) -> None:
        if self.name:  # as it is said: «JOSÉ PÉREZ» → «José Pérez»
            self.name = speakable_name(self.name)

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


@dataclass(frozen=True)
class Confirmation:
    """An answer read back to the caller before it is stored («Entendí que nos da un cuatro. ¿Es correcto?»).

    ``question`` is the question it answers (``consent``, ``score``…) or, for a request heard in any
    question, the intent (``opt_out``, ``human``, ``wrong_person``, ``callback_later``); ``value`` is
    what would be stored: a score, True/False for yes/no, or True for a request."""

    question: str
    value: Any
    understanding: Understanding


@dataclass
class SurveyResult:
    consent: bool | None = None
    score: int | None = None
    resolved: bool | None = None
    feedback: str | None = None
    feedback_analysis: dict[str, Any] | None = None  # topic tags and sentiment of the feedback
    offer_human: bool | None = None
    opt_out: bool = False
    recording_stopped: bool = False  # the caller asked not to be recorded
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
        self.awaiting: Question | None = None   # id "confirm" while an answer is being read back
        self.confirming: Confirmation | None = None
        self._confirm_for: Question | None = None  # the question whose answer is being read back
        self._confirm_retries = 0
        self.finished = False
        self._retries = 0
        self._repeats = 0
        self._missed_request: str | None = None  # the request the audio suggested at the last miss

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
        self.awaiting, self._retries, self._repeats, self._missed_request = q, 0, 0, None
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

    def _retry(self, now_ms: int, no_match: bool, keypad: bool | None = None) -> list[Event]:
        """Ask the open question again (at most ``max_retries`` times). After a missed answer
        (``no_match``, or ``keypad``) the re-prompt asks for the keypad when the question has one."""
        q = self.awaiting
        assert q is not None
        if self._retries >= q.max_retries:
            return self._go(q.on_no_answer, now_ms)
        self._retries += 1
        events: list[Event] = [self._say(now_ms, "no_match")] if no_match else []
        if (no_match if keypad is None else keypad) and q.keypad:
            events.append(self._say(now_ms, f"{q.id}.keypad", q.keypad))
        else:
            events.append(self._say(now_ms, f"{q.id}.reprompt", q.reprompt))
        return events

    # -- read-back -----------------------------------------------------------------------------
    def _confirm(self, q: Question, u: Understanding, now_ms: int) -> list[Event]:
        """Read an unsure answer back before storing it; the caller's sí/no (or 1/2) decides."""
        assert self.script.confirm is not None
        if u.intent in REQUESTS:
            pending = Confirmation(u.intent, True, u)
            said = self.script.read_back[u.intent]
        elif q.kind == "score":
            pending = Confirmation(q.id, int(u.slots["score"]), u)
            said = self.script.read_back["score"].format(valor=self.script.score_words[pending.value])
        else:
            pending = Confirmation(q.id, u.intent == "yes", u)
            said = self.script.read_back[q.id][u.intent]
        self.confirming, self._confirm_for, self._confirm_retries = pending, q, 0
        self.awaiting = self.script.confirm
        prompt = self.customer.fill(self.script.confirm.prompt, entendi=said)
        return [ConfirmAsked(now_ms, pending.question, pending.value, u.text), Say(now_ms, "confirm.prompt", prompt)]

    def _on_confirmation(self, u: Understanding, now_ms: int, via: str) -> list[Event]:
        """The caller's answer to «¿Es correcto?»."""
        pending, original = self.confirming, self._confirm_for
        assert pending is not None and original is not None
        if u.intent in ("yes", "no") and not u.confirm:
            self.confirming, self._confirm_for, self.awaiting = None, None, original
            if u.intent == "yes":
                return self.on_understanding(replace(pending.understanding, confirm=False), now_ms, "voice")
            return self._retry(now_ms, no_match=False, keypad=True)
        if u.intent in REQUESTS or u.intent == "repeat":
            if u.intent == "repeat":
                return [self._say(now_ms, "repeat_intro"), *self._confirm(original, pending.understanding, now_ms)[1:]]
            self.confirming, self._confirm_for, self.awaiting = None, None, original
            return self.on_understanding(u, now_ms, via)
        if self._confirm_retries < self.script.confirm.max_retries:
            self._confirm_retries += 1
            return [self._say(now_ms, "confirm.reprompt", self.script.confirm.reprompt)]
        self.confirming, self._confirm_for, self.awaiting = None, None, original
        return self._retry(now_ms, no_match=True)

    # -- going on with an answer -----------------------------------------------------------------
    def checkpoint(self) -> dict[str, Any]:
        """The dialogue's state, to decide an answer again from here (``revise``)."""
        state = {k: v for k, v in vars(self).items() if k not in ("script", "customer")}
        state["result"] = copy.deepcopy(self.result)  # the rest is immutable or replaced, never changed
        return state

    def revise(self, state: dict[str, Any], u: Understanding, now_ms: int, via: str = "voice") -> list[Event]:
        """The caller went on with the answer given at ``state`` («Sí… claro», «Cuatro… no, cinco»):
        decide it again from there. A stored answer that changes is corrected (``AnswerCorrected``
        then the new ``AnswerRecorded``); one that stays is not stored twice; what follows is said anew."""
        before = self.result
        vars(self).update(state)
        self.result = copy.deepcopy(state["result"])
        events = self.on_understanding(u, now_ms, via)
        changed = [name for name in ANSWER_FIELDS
                   if getattr(before, name) is not None and getattr(before, name) != getattr(self.result, name)]
        recorded = {e.question for e in events if isinstance(e, AnswerRecorded)}
        out: list[Event] = []
        for name in changed:
            new = getattr(self.result, name)
            out.append(AnswerCorrected(now_ms, name, getattr(before, name), new, u.text))
            if name not in recorded:  # taken back, nothing in its place (it is asked again)
                out.append(AnswerRecorded(now_ms, name, new, u.text, via))
        unchanged = [e for e in events if isinstance(e, AnswerRecorded) and e.question in ANSWER_FIELDS
                     and getattr(before, e.question) == e.value]
        return out + [e for e in events if not any(e is x for x in unchanged)]

    # -- inputs --------------------------------------------------------------------------------
    def start(self, now_ms: int = 0) -> list[Event]:
        greeting = "greeting" if self.customer.name else "greeting_generic"
        notice = self.privacy_notice()
        said = [self._say(now_ms, greeting)]
        if notice is not None:
            assert self.customer.privacy is not None
            said.append(Say(now_ms, "privacy_notice", notice, self.customer.privacy.interruptible))
        return said + self._ask(self.script.start, now_ms)

    def privacy_notice(self) -> str | None:
        """The privacy notice as said to this caller, or None when the operator configured none."""
        privacy, words = self.customer.privacy, self.script.privacy_notice
        if privacy is None or not privacy.configured or words is None:
            return None
        if privacy.url:
            where = words.where_url.format(url=words.say_url(privacy.url))
        else:
            where = words.where_phone.format(telefono=privacy.phone)
        return " ".join(words.prompt.format(empresa=self.customer.company, donde=where).split())

    def on_understanding(self, u: Understanding, now_ms: int, via: str = "voice") -> list[Event]:
        """React to what the caller said (or keyed) while a question was open."""
        q = self.awaiting
        if q is None or self.finished:
            return []
        if self.confirming is not None:
            return self._on_confirmation(u, now_ms, via)
        if u.confirm and via == "voice" and self.script.confirm is not None and (
                u.intent in REQUESTS or u.intent in _ANSWER_INTENTS.get(q.kind, ())):
            return self._confirm(q, u, now_ms)
        if u.intent == "opt_out":
            self.result.opt_out = True
            return [AnswerRecorded(now_ms, "opt_out", True, u.text, via)] + self._go("closing_opt_out", now_ms)
        if u.intent == "stop_recording":  # said so, then the pending question again
            self.result.recording_stopped = True
            return [StopRecording(now_ms, u.text, via), self._say(now_ms, "recording_stopped"),
                    self._question_prompt(q, now_ms)]
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
        return self._missed(q, u, now_ms, via)

    def _missed(self, q: Question, u: Understanding, now_ms: int, via: str) -> list[Event]:
        """An answer not understood: asked again. When the audio suggested the same request
        (``slots["best"]``: opt-out, a person, …) at two misses in a row, that request is read back
        instead: a caller who says «ya no me llamen» each time is not asked for a score for ever. A
        call-back keeps the time the last transcript caught (``best_slots``)."""
        suggested = u.slots.get("best") if u.intent == "unknown" and via == "voice" else None
        again = suggested in REQUESTS and suggested == self._missed_request
        self._missed_request = None if again else suggested
        if again and self.script.confirm is not None:
            slots = dict(u.slots.get("best_slots", {}))  # a call-back's time, when the transcript caught one
            return self._confirm(q, Understanding(suggested, slots, u.confidence, u.text, confirm=True), now_ms)
        return self._retry(now_ms, no_match=u.intent != "silence")

    def on_key(self, digit: str, now_ms: int) -> list[Event]:
        q = self.awaiting
        if q is None or self.finished:
            return []
        if self.confirming is not None and digit not in q.keys and self._confirm_for is not None \
                and digit in self._confirm_for.keys:
            # A key that answers the question being confirmed (a score of 3–5) answers it.
            self.confirming, self.awaiting, self._confirm_for = None, self._confirm_for, None
            q = self.awaiting
        meaning = q.keys.get(digit, self.script.global_keys.get(digit))
        if meaning is None and q.kind == "free":
            return self._go(q.on_no_answer, now_ms)  # any key: "no comments"
        if meaning is None:
            return self._retry(now_ms, no_match=True) if self.confirming is None else self._on_confirmation(
                Understanding("unknown", text=f"DTMF {digit}"), now_ms, "dtmf")
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
        if self.confirming is not None:
            return self._on_confirmation(Understanding("silence"), now_ms, "voice")
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
