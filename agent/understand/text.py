"""Text normalisation and fuzzy, phonetic word matching for Mexican Spanish."""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from functools import lru_cache

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


def strip_accents(text: str) -> str:
    """Drop accents (keep ñ), so "sí" = "si" and "quíteme" = "quiteme"."""
    out = []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.category(ch) == "Mn" and out and out[-1] == "n" and ch == "\u0303":
            out[-1] = "ñ"
        elif unicodedata.category(ch) != "Mn":
            out.append(ch)
    return "".join(out)


def tokenize(text: str) -> list[str]:
    """Lower case, accents off, punctuation off, digits split from words ("4." → "4")."""
    text = strip_accents(text.lower())
    text = _PUNCT.sub(" ", text)
    text = re.sub(r"(\d+)", r" \1 ", text)
    return text.split()


@lru_cache(maxsize=8192)
def phonetic(word: str) -> str:
    """A Spanish phonetic key: letters that sound alike on a Mexican phone line map together."""
    w = word.lower()
    for a, b in (("ch", "C"), ("ll", "y"), ("qu", "k"), ("gue", "ge"), ("gui", "gi"), ("ce", "se"),
                 ("ci", "si"), ("ge", "je"), ("gi", "ji")):
        w = w.replace(a, b)
    w = w.replace("h", "").replace("v", "b").replace("z", "s").replace("c", "k").replace("x", "ks")
    w = w.replace("w", "gu").replace("y", "i").replace("ñ", "ni").replace("C", "ch")
    return re.sub(r"(.)\1+", r"\1", w)


@lru_cache(maxsize=65536)
def word_similarity(heard: str, expected: str) -> float:
    """1.0 for the same word or sound; a ratio for near misses of longer words; 0 otherwise."""
    if heard == expected:
        return 1.0
    ph, pe = phonetic(heard), phonetic(expected)
    if ph == pe:
        return 0.95
    if heard.isdigit() or expected.isdigit() or min(len(pe), len(ph)) < 5:  # "viene" is not "bien"
        return 0.0
    return SequenceMatcher(None, ph, pe).ratio()
