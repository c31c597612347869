"""Topic tags and sentiment of free-form feedback, from an es-MX lexicon (``prompts/es_MX/feedback.yaml``).

Deliberately simple and inspectable: whole-word (or word-sequence) matches after normalisation; a
negation right before a sentiment word flips it; an intensifier doubles it. The reports count tags
and the sentiment split; the transcript itself is kept for people to read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..prompts_data import load_yaml
from .text import tokenize


@dataclass(frozen=True)
class FeedbackAnalysis:
    topics: list[str] = field(default_factory=list)
    sentiment: str = "neutral"     # "positive", "negative" or "neutral"
    score: float = 0.0             # positive minus negative evidence, scaled to -1..1

    def to_dict(self) -> dict[str, Any]:
        return {"topics": list(self.topics), "sentiment": self.sentiment, "score": self.score}


def _phrases(words: list[str]) -> list[tuple[str, ...]]:
    return sorted({tuple(tokenize(w)) for w in words if tokenize(w)}, key=len, reverse=True)


@lru_cache(maxsize=1)
def _lexicon() -> dict[str, Any]:
    data = load_yaml("feedback.yaml")
    sentiment = data["sentiment"]
    return {"topics": {tag: _phrases(words) for tag, words in data["topics"].items()},
            "positive": _phrases(sentiment["positive"]), "negative": _phrases(sentiment["negative"]),
            "negations": {tokenize(w)[0] for w in sentiment["negations"]},
            "intensifiers": {tokenize(w)[0] for w in sentiment["intensifiers"]}}


def _find(tokens: list[str], phrases: list[tuple[str, ...]]) -> list[tuple[int, int]]:
    """(start, length) of each non-overlapping match, longest phrases first."""
    taken: set[int] = set()
    hits = []
    for phrase in phrases:
        n = len(phrase)
        for i in range(len(tokens) - n + 1):
            if tuple(tokens[i : i + n]) == phrase and not taken & set(range(i, i + n)):
                taken |= set(range(i, i + n))
                hits.append((i, n))
    return hits


def analyze_feedback(text: str) -> FeedbackAnalysis:
    lexicon = _lexicon()
    tokens = tokenize(text)
    if not tokens:
        return FeedbackAnalysis()
    topics = [tag for tag, phrases in lexicon["topics"].items() if _find(tokens, phrases)]
    total = 0.0
    for polarity, sign in (("positive", 1.0), ("negative", -1.0)):
        for start, length in _find(tokens, lexicon[polarity]):
            weight = sign
            before = tokens[max(0, start - 2) : start]
            if before and before[-1] in lexicon["intensifiers"]:
                weight *= 2.0
            # "no fue amable": a negation up to two words before; a negative phrase that already starts
            # with "no" ("no funciona") is not flipped again.
            if any(word in lexicon["negations"] for word in before) and tokens[start] not in lexicon["negations"]:
                weight = -weight
            total += weight
    score = max(-1.0, min(1.0, total / 3.0))
    sentiment = "positive" if score > 0.15 else "negative" if score < -0.15 else "neutral"
    return FeedbackAnalysis(topics, sentiment, round(score, 2))
