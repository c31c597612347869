"""Intent and slot parser: text (from ASR or typed) → ``Understanding``.

Phrase lists live in ``prompts/es_MX/understanding.yaml``. Matching is word-by-word, fuzzy and
phonetic, longest phrase first; opt-out outranks everything said in the same utterance. Requests are
also found where the recogniser cut the words elsewhere («no vive esa persona» written «no vives a
persona»: the same sounds) or misheard one word's ending («ya no me llamo» for «ya no me llamen»), as
near misses that are read back, never taken at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..prompts_data import load_yaml
from .text import phonetic, strip_accents, tokenize, word_similarity

INTENTS = ("score", "yes", "no", "opt_out", "stop_recording", "human", "repeat", "callback_later", "wrong_person",
           "unknown", "silence")
QUESTION_KINDS = ("score", "yes_no", "free")
# Requests a caller may make at any question instead of answering it, in the order they outrank each other.
REQUESTS = ("opt_out", "stop_recording", "human", "wrong_person", "callback_later")
FUZZY_THRESHOLD = 0.8
RESEGMENTED = 0.9  # a phrase heard with its word boundaries moved: below a plain match (0.95)
ENDING_MISHEARD = 0.85  # a request of 3+ words with one word's ending misheard («ya no me llamo»)
_WORDS = re.compile(r"\d+|[^\W\d_]+")  # the words of a text as ``tokenize`` cuts them, accents kept


@dataclass
class Understanding:
    intent: str
    slots: dict[str, Any] = field(default_factory=dict)
    confidence: float = 0.0
    text: str = ""
    confirm: bool = False  # heard, but not surely enough to store without reading it back

    @property
    def score(self) -> int | None:
        return self.slots.get("score")


@dataclass(frozen=True)
class _Match:
    label: Any
    start: int
    end: int
    similarity: float   # mean over the phrase's words
    weakest: float      # the least similar word: 0.95+ means every word was said (or sounds) as written


class PhraseMatcher:
    """Finds non-overlapping phrase occurrences in a token list, longest phrases first."""

    def __init__(self, phrases: dict[Any, list[str]], resegment: bool = False) -> None:
        entries = [(tuple(tokenize(p)), label) for label, ps in phrases.items() for p in ps]
        self._entries = sorted((e for e in entries if e[0]), key=lambda e: -len(e[0]))
        # Phrases of several words, as one string of sounds (``resegment``: see ``_resegmented``).
        self._sounds = [("".join(phonetic(w) for w in phrase), label) for phrase, label in self._entries
                        if resegment and len(phrase) > 1]
        self._near = resegment  # also phrases with one word's ending misheard (``_one_ending_off``)

    def find(self, tokens: list[str], taken: set[int] | None = None) -> list[_Match]:
        """Longest phrases first; among equally long ones, the closest match wins."""
        taken = set() if taken is None else taken
        candidates: list[_Match] = []
        for phrase, label in self._entries:
            n = len(phrase)
            for start in range(len(tokens) - n + 1):
                sims = [word_similarity(tokens[start + k], phrase[k]) for k in range(n)]
                if min(sims) >= FUZZY_THRESHOLD:
                    candidates.append(_Match(label, start, start + n, sum(sims) / n, min(sims)))
                elif self._near and n >= 3 and _one_ending_off(tokens[start : start + n], phrase, sims):
                    candidates.append(_Match(label, start, start + n, ENDING_MISHEARD, ENDING_MISHEARD))
        candidates += self._resegmented(tokens)
        found: list[_Match] = []
        for m in sorted(candidates, key=lambda m: (-(m.end - m.start), -m.similarity, m.start)):
            span = range(m.start, m.end)
            if not any(i in taken for i in span):
                found.append(m)
                taken.update(span)
        return sorted(found, key=lambda m: m.start)

    def _resegmented(self, tokens: list[str]) -> list[_Match]:
        """Phrases whose sounds the tokens from a word boundary on say exactly, wherever the words
        were cut, with at most one sound more at the end («vives» for «vive»)."""
        found = []
        sounds = [phonetic(t) for t in tokens]
        for key, label in self._sounds:
            for start in range(len(tokens)):
                heard = ""
                for end in range(start, len(tokens)):
                    heard += sounds[end]
                    if len(heard) >= len(key):
                        if heard.startswith(key) and len(heard) - len(key) <= 1:
                            found.append(_Match(label, start, end + 1, RESEGMENTED, RESEGMENTED))
                        break
        return found


def _one_ending_off(heard: list[str], phrase: tuple[str, ...], sims: list[float]) -> bool:
    """Every word said as written but one, whose sounds differ only in its last one or two (and keep
    three): «ya no me llamo» for «ya no me llame» — short words get no fuzzy match otherwise."""
    odd = [k for k, sim in enumerate(sims) if sim < 0.95]
    if len(odd) != 1:
        return False
    got, want = phonetic(heard[odd[0]]), phonetic(phrase[odd[0]])
    common = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    return common >= max(3, len(want) - 2) and abs(len(got) - len(want)) <= 2


class IntentParser:
    def __init__(self, data: dict[str, Any] | None = None) -> None:
        data = data or load_yaml("understanding.yaml")
        self.fillers = {tuple(tokenize(f)) for f in data["fillers"]}
        self.corrections = {w for phrase in data.get("corrections", []) for w in tokenize(phrase)}
        self._global = {name: PhraseMatcher({name: data["intents"][name]}, resegment=True) for name in REQUESTS}
        self._repeat = PhraseMatcher({"repeat": data["intents"]["repeat"]})
        numbers = {int(k): [str(k)] + v for k, v in data["numbers"].items()}
        self._numbers = PhraseMatcher(numbers)
        self._out_of_range = PhraseMatcher({"out": data["out_of_range"] + [str(d) for d in (0, 6, 7, 8, 9, 10)]})
        self._verbal = PhraseMatcher({int(k): v for k, v in data["verbal_scale"].items()})
        self._scale_mentions = PhraseMatcher({"scale": data["scale_mentions"]})
        self._polarity = PhraseMatcher({"unsure": data["unsure"], "yes": data["affirmative"], "no": data["negative"]})
        self._day_parts = PhraseMatcher(data["day_parts"])
        self._score_words = {int(k): v[0] for k, v in data["numbers"].items()}
        self._score_words.update({value: word for value, word in zip((0, 6, 7, 8, 9, 10), data["out_of_range"])})
        # How a score may be said in its place: every number as a word and as digits; the scale's words.
        self._number_forms = [form for value, word in sorted(self._score_words.items()) for form in (word, str(value))]
        self._verbal_forms = [form for _, forms in sorted(data["verbal_alternatives"].items()) for form in forms]

    def _strip_fillers(self, tokens: list[str]) -> list[str]:
        out = []
        i = 0
        while i < len(tokens):
            for f in sorted(self.fillers, key=len, reverse=True):
                if tuple(tokens[i : i + len(f)]) == f:
                    i += len(f)
                    break
            else:
                out.append(tokens[i])
                i += 1
        return out

    def parse(self, text: str, question: str = "free") -> Understanding:
        """Understand ``text`` as an answer to a question of kind score / yes_no / free."""
        tokens = self._strip_fillers(tokenize(text))
        if not tokens:
            return Understanding("silence", text=text, confidence=1.0)
        for name in REQUESTS:
            matches = self._global[name].find(tokens)
            if matches:
                slots = self._callback_slots(tokens) if name == "callback_later" else {}
                return Understanding(name, slots, max(m.weakest for m in matches), text)
        repeat = self._repeat.find(tokens)
        if any(m.end - m.start >= 2 for m in repeat):  # "no le entendí" is not a "no"
            return Understanding("repeat", {}, repeat[0].similarity, text)
        answer = None
        if question == "score":
            answer = self._parse_score(tokens, text)
        elif question == "yes_no":
            answer = self._parse_yes_no(tokens, text)
        if answer is not None:
            return answer
        if repeat and len(tokens) <= 5:
            return Understanding("repeat", {}, repeat[0].similarity, text)
        return Understanding("unknown", {}, 0.0, text)

    def _scale_named(self, tokens: list[str]) -> set[int]:
        """Positions of words that name the scale, not a score: «del uno al cinco», «cinco de cinco»."""
        taken: set[int] = set()
        self._scale_mentions.find(tokens, taken)
        for i in range(1, len(tokens) - 1):
            if tokens[i] == "de" and i + 1 not in taken and word_similarity(tokens[i + 1], "cinco") >= 0.95:
                taken.update({i, i + 1})
        return taken

    def _parse_score(self, tokens: list[str], text: str) -> Understanding | None:
        taken = self._scale_named(tokens)
        verbal = self._verbal.find(tokens, set(taken))
        numbers = self._numbers.find(tokens, set(taken) | {i for m in verbal for i in range(m.start, m.end)})
        # "un"/"una" alone is an article ("un cinco"), a score only when nothing else is said.
        numbers = [m for m in numbers if not (m.label == 1 and tokens[m.start] in ("un", "una")
                                              and any(n.start > m.start for n in numbers))]
        said = numbers + verbal
        if self._out_of_range.find(tokens, set(taken)):
            # «ocho», «un diez»; and with a score beside it («cinco, seis, siete…», a recogniser
            # echoing its digit prompt) it is no one score either. ``named``: the scores beside it.
            named = sorted({m.label for m in said})
            return Understanding("unknown", {"out_of_range": True, **({"named": named} if named else {})}, 0.5, text)
        # «cuatro… no, cinco», «tres, perdón, cuatro»: what follows the last correction word counts.
        fixes = [i for i, tok in enumerate(tokens) if tok in self.corrections
                 and any(m.end <= i for m in said) and any(m.start > i for m in said)]
        if fixes:
            numbers = [m for m in numbers if m.start > fixes[-1]]
            verbal = [m for m in verbal if m.start > fixes[-1]]
        values = {m.label for m in numbers} | {m.label for m in verbal}
        if len(values) > 1:
            # "entre tres y cuatro", "un cuatro o un cinco": ask again rather than guess.
            return Understanding("unknown", {"candidates": sorted(values)}, 0.5, text)
        matches = numbers or verbal
        if not matches:
            return None
        best = max(matches, key=lambda m: m.similarity)
        return Understanding("score", {"score": int(best.label)}, best.similarity, text)

    def _parse_yes_no(self, tokens: list[str], text: str) -> Understanding | None:
        matches = self._polarity.find(tokens)
        if not matches:
            return None
        last = matches[-1]  # corrections come last: "no… bueno, sí"
        if last.label == "unsure":
            return Understanding("unknown", {"unsure": True}, last.similarity, text)
        label = last.label
        if label == "yes" and last.start > 0 and tokens[last.start - 1] == "no":
            label = "no"  # "no quedó resuelto", "no, no se resolvió"
        return Understanding(label, {"answer": label == "yes"}, last.similarity, text)

    def score_alternatives(self, text: str) -> list[str]:
        """``text`` with its score said otherwise and every other word kept: a number as each number
        from cero to diez, as a word and as digits («yo diría que tres» → «yo diría que 3», «… que
        cuatro», «… que 8»…); words of the verbal scale as the scale's other words («muy satisfecho» →
        «satisfecho», «regular», «muy insatisfecho»…), also in place of the word before them, which
        may hold part of theirs («Múin satisfecha.» → «Muy insatisfecha.»). Empty when the score is
        not said that way — a bare «tres» has nothing to keep: the question's own candidates compare
        it already.

        Yes / no have none: «No safe.» for «no sé», set against «Sí safe.», won (three answers stored
        wrong on the evaluation's dev voices)."""
        words = list(_WORDS.finditer(text))
        placements, forms = self._score_spots(text, words)
        out = []
        for spans in placements:
            for form in forms:
                pieces, last = [], 0
                for start, end in spans:
                    original = text[words[start].start() : words[end - 1].end()]
                    pieces += [text[last : words[start].start()], form.capitalize() if original[0].isupper() else form]
                    last = words[end - 1].end()
                variant = "".join(pieces) + text[last:]
                if variant != text and variant not in out:
                    out.append(variant)
        return out

    def score_said_last(self, text: str) -> bool:
        """Whether ``score_alternatives`` changes the last word: the score ends the answer, as in «le
        doy un cuatro», «del uno al cinco, un tres». Words after it («dos, un día» for «le doy un
        diez», «uno chero» for «un ocho») may be the rest of a number the recogniser cut in two."""
        words = list(_WORDS.finditer(text))
        placements, _ = self._score_spots(text, words)
        return any(end == len(words) for spans in placements for _, end in spans)

    def score_in_words(self, text: str) -> bool:
        """Whether the score is said in words of the verbal scale, not as a number."""
        placements, forms = self._score_spots(text, list(_WORDS.finditer(text)))
        return bool(placements) and forms is self._verbal_forms

    def _score_spots(self, text: str, words: list[re.Match]) -> tuple[list[list[tuple[int, int]]], list[str]]:
        """Where ``text`` says its score — the number, when other words are beside it, else the words
        of the verbal scale, with and without the word before each — as lists of word spans to say
        it otherwise, and the forms to say each score there."""
        tokens = tokenize(text)
        understood = self.parse(text, "score")
        if understood.intent != "score" or [strip_accents(w.group().lower()) for w in words] != tokens:
            return [], []
        named = self._scale_named(tokens)
        numbers = [(m.start, m.end) for m in self._numbers.find(tokens, set(named))
                   if m.label == understood.score and m.end - m.start == 1]
        if numbers and len(tokens) > len(numbers):
            return [numbers], self._number_forms
        verbal = [(m.start, m.end) for m in self._verbal.find(tokens, set(named)) if m.label == understood.score]
        if not verbal:
            return [], []
        said = {i for start, end in verbal for i in range(start, end)}
        widened = [(start - 1 if start > 0 and start - 1 not in said else start, end) for start, end in verbal]
        return [verbal] + ([widened] if widened != verbal else []), self._verbal_forms

    def callback_slots(self, text: str) -> dict[str, Any]:
        """When the caller wants to be called back ("en la tarde", "después de las cinco", "mañana")."""
        return self._callback_slots(self._strip_fillers(tokenize(text)))

    def _callback_slots(self, tokens: list[str]) -> dict[str, Any]:
        slots: dict[str, Any] = {}
        in_day_part: set[int] = set()
        parts = self._day_parts.find(tokens, in_day_part)
        if parts:
            slots["day_part"] = parts[0].label
        # "mañana" outside "en la mañana" means tomorrow.
        if any(word_similarity(t, "mañana") >= 0.95 for i, t in enumerate(tokens) if i not in in_day_part):
            slots["day"] = "tomorrow"
        for i, tok in enumerate(tokens[:-1]):
            if tok == "las":
                hours = self._numbers.find(tokens[i + 1 : i + 2]) or []
                value = int(tokens[i + 1]) if tokens[i + 1].isdigit() else None
                if hours:
                    value = int(hours[0].label)
                if value is None:
                    spelled = {"seis": 6, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12}
                    value = spelled.get(tokens[i + 1])
                if value is not None:
                    hour = value + 12 if value < 8 else value  # "las cinco" on a work day is 17:00
                    key = "after_hour" if i > 0 and tokens[i - 1] == "de" and "despues" in tokens else "at_hour"
                    slots[key] = hour
                    break
        return slots
