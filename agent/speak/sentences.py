"""Splitting a prompt into sentences, so the first can play while the next is synthesised and the
fixed sentences of a personal prompt still come from the cache."""

from __future__ import annotations

import re

# Titles that end in a period without ending the sentence ("Sra. López").
ABBREVIATIONS = {"sr", "sra", "srta", "lic", "ing", "dr", "dra", "mtro", "mtra", "prof", "c", "no", "núm", "tel"}
_BOUNDARY = re.compile(r"(?<=[.!?…])\s+(?=[¿¡\"'«(]?[A-ZÁÉÍÓÚÑÜ0-9])")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` in order (whitespace trimmed, nothing lost but the spaces between them)."""
    pieces: list[str] = []
    start = 0
    for boundary in _BOUNDARY.finditer(text):
        before = text[start : boundary.start()]
        last_word = re.search(r"(\w+)\.$", before)
        if last_word and last_word.group(1).lower() in ABBREVIATIONS:
            continue
        pieces.append(before.strip())
        start = boundary.end()
    pieces.append(text[start:].strip())
    return [p for p in pieces if p]
