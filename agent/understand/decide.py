"""From an utterance to an ``Understanding``: recogniser hints per question, then a decision that
combines the free transcript (parsed as text) with the scores of the question's candidate phrases.

A closed answer is accepted only when one candidate clearly wins *and* fits the audio about as well as
the unconstrained transcript does; otherwise the result is ``unknown`` and the dialogue asks again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dialogue.script import Question, SurveyScript
from ..listen.asr import Hints, RecognitionStream, Recognizer, Transcript
from .parser import IntentParser, Understanding

GLOBAL_INTENTS = ("opt_out", "human", "wrong_person", "callback_later")
_PARSER_KIND = {"yes_no": "yes_no", "score": "score", "free": "free"}


@dataclass(frozen=True)
class DecisionPolicy:
    accept_posterior: float = 0.6      # the winning label's share of the candidates' probability
    reject_margin_nats: float = 10.0   # how much worse than the free transcript a candidate may fit
    trust_text_confidence: float = 0.9  # a parsed transcript this sure wins over candidate scores
    early_posterior: float = 0.9       # taken before the hang-over ends only when this sure (see ``decisive``)


def _label_to_understanding(label: str, text: str, confidence: float) -> Understanding:
    if label.startswith("score:"):
        return Understanding("score", {"score": int(label.split(":", 1)[1])}, confidence, text)
    if label in ("yes", "no"):
        return Understanding(label, {"answer": label == "yes"}, confidence, text)
    return Understanding(label, {}, confidence, text)


def _label_of(understood: Understanding) -> str:
    return f"score:{understood.score}" if understood.intent == "score" else understood.intent


class Understander:
    def __init__(self, recognizer: Recognizer, script: SurveyScript, parser: IntentParser | None = None,
                 policy: DecisionPolicy | None = None) -> None:
        self.recognizer = recognizer
        self.parser = parser or IntentParser()
        self.policy = policy or DecisionPolicy()
        self._labels: dict[str, dict[str, str]] = {}
        self._hints: dict[str, Hints] = {}
        for q in script.questions.values():
            labels: dict[str, str] = {}
            if q.kind != "free":
                for value, phrases in q.phrases.items():
                    label = f"score:{value}" if q.kind == "score" else value
                    labels.update({p: label for p in phrases})
                for intent, phrases in script.global_phrases.items():
                    labels.update({p: intent for p in phrases if p not in labels})
            self._labels[q.id] = labels
            self._hints[q.id] = Hints(tuple(labels), max_words=12 if q.kind != "free" else 80,
                                      context=q.asr_context)

    def hints_for(self, question: Question) -> Hints:
        return self._hints[question.id]

    def stream(self, question: Question) -> RecognitionStream | None:
        """A stream to recognise the answer while it is spoken, when the recogniser can do that."""
        start = getattr(self.recognizer, "stream", None)
        return start(self.hints_for(question)) if start is not None else None

    def understand(self, audio: np.ndarray, question: Question) -> tuple[Understanding, Transcript]:
        transcript = self.recognizer.recognize(audio, self.hints_for(question))
        return self.decide(transcript, question), transcript

    def decide(self, transcript: Transcript, question: Question) -> Understanding:
        text = transcript.text
        parsed = self.parser.parse(text, _PARSER_KIND[question.kind])
        if parsed.intent in GLOBAL_INTENTS or parsed.intent == "silence" or question.kind == "free":
            return parsed
        if not transcript.phrase_scores:
            return parsed
        label, posterior, fits = self._best_candidate(transcript, question)
        confident = fits and posterior >= self.policy.accept_posterior
        # What the audio says most clearly outranks a parse of a noisy transcript when it is a
        # request (opt-out, a person, repeat) or when it is very sure.
        if confident and (label in GLOBAL_INTENTS or label == "repeat" or posterior >= 0.9):
            understood = _label_to_understanding(label, text, posterior)
            if label == "callback_later":  # the time asked for, from whatever the transcript caught
                understood = Understanding(label, self.parser.callback_slots(text), posterior, text)
            return understood
        if parsed.intent != "unknown" and parsed.confidence >= self.policy.trust_text_confidence:
            return parsed
        if confident:
            return _label_to_understanding(label, text, posterior)
        if parsed.intent != "unknown":
            return parsed
        return Understanding("unknown", {"best": label}, posterior, text)

    def decisive(self, understood: Understanding, transcript: Transcript, question: Question) -> bool:
        """Whether an answer heard at a pause can be taken without waiting for the hang-over: a
        closed question, the candidate scores are sure of it, and the free transcript says the same
        or nothing that parses (it never contradicts). Waiting would decide the same thing on the
        same audio; the pause length guards against cutting a longer answer."""
        if question.kind == "free" or not transcript.phrase_scores:
            return False
        if understood.intent in ("unknown", "repeat", "silence"):
            return False
        parsed = self.parser.parse(transcript.text, _PARSER_KIND[question.kind])
        label, posterior, fits = self._best_candidate(transcript, question)
        return (fits and posterior >= self.policy.early_posterior and label == _label_of(understood)
                and _label_of(parsed) in (label, "unknown"))

    def _best_candidate(self, transcript: Transcript, question: Question) -> tuple[str, float, bool]:
        """The most likely label, its posterior among the candidates, and whether it fits the audio
        about as well as the unconstrained transcript."""
        scores = transcript.phrase_scores
        labels = self._labels[question.id]
        by_label: dict[str, float] = {}
        other = -np.inf  # scores of phrases that answer nothing (a recogniser's "none of them")
        for phrase, score in scores.items():
            label = labels.get(phrase)
            if label is None:
                other = float(np.logaddexp(other, score))
            else:
                by_label[label] = float(np.logaddexp(by_label.get(label, -np.inf), score))
        if not by_label:
            return "unknown", 0.0, False
        names = list(by_label)
        values = np.array([by_label[n] for n in names])
        top = max(values.max(), other)
        posterior = np.exp(values - top)
        posterior /= posterior.sum() + np.exp(other - top)
        best = int(np.argmax(posterior))
        raw_best = transcript.best_phrase_score
        fits = (transcript.text_score is None or raw_best is None
                or raw_best >= transcript.text_score - self.policy.reject_margin_nats)
        return names[best], float(posterior[best]), fits
