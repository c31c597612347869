"""The understanding evaluation sets, generated reproducibly (seeded).

Written set (≥ 500): answers as people in Mexico give them — base phrasings per intent, combined with
fillers before and courtesies after — each labelled with the question it answers, the expected intent
and the score. The phrasings are written independently of the parser's phrase lists (some say things
those lists do not contain), so the accuracy is a measurement, not a tautology.

Out-of-grammar answers (``OUT_OF_GRAMMAR``): things said at a closed question that are not one of its
answers ("seis", "no sé", "cuatro" at a yes/no question), labelled ``unknown``: never to be stored.

The spoken sets (Kokoro and espeak-ng voices, real recordings, through a phone line) are built from
these in ``bench/answer_sets.py``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

WORDS = {1: "uno", 2: "dos", 3: "tres", 4: "cuatro", 5: "cinco"}


@dataclass(frozen=True)
class Item:
    question: str        # consent, score, resolved
    text: str
    intent: str          # expected intent
    score: int | None = None


def _score_items() -> list[Item]:
    templates = ["{w}", "un {w}", "le doy un {w}", "le pongo un {w}", "le pongo {w}", "yo le daría un {w}",
                 "pues un {w}", "{w} de cinco", "creo que un {w}", "mi calificación es {w}", "un {w}, la verdad",
                 "del uno al cinco, un {w}", "{d}", "un {d}", "le doy {w}", "sería un {w}", "yo diría que {w}",
                 "pues le voy a dar un {w}"]
    items = [Item("score", t.format(w=w, d=n), "score", n) for n, w in WORDS.items() for t in templates
             if not (n == 1 and t.startswith("un {w}"))]
    verbal = [("muy satisfecho", 5), ("muy satisfecha", 5), ("excelente", 5), ("estoy muy satisfecho", 5),
              ("satisfecho", 4), ("quedé satisfecha", 4), ("bien", 4), ("regular", 3), ("más o menos", 3),
              ("ni bien ni mal", 3), ("mal", 2), ("insatisfecho", 2), ("muy mal", 1), ("pésimo", 1),
              ("muy insatisfecha", 1), ("pésimo servicio", 1)]
    items += [Item("score", t, "score", n) for t, n in verbal]
    items += [Item("score", t, "unknown") for t in ("entre tres y cuatro", "un cuatro o un cinco", "no sé",
                                                    "un diez", "cuatro punto cinco")]
    items += [Item("score", t, "score", n) for t, n in (("le doy cinco estrellas", 5), ("pos un cuatro", 4),
                                                        ("la neta un dos", 2), ("un tres nomás", 3))]
    return items


YES = ["sí", "sí, claro", "claro", "ándale", "órale", "sale", "simón", "sí, dígame", "claro que sí",
       "por supuesto", "sí, adelante", "cómo no", "sí, está bien", "de acuerdo", "sí, con gusto", "pos sí",
       "sí, sí, adelante", "va, dígame", "sale pues"]
NO = ["no", "nel", "no, gracias", "para nada", "no, no puedo", "negativo", "no, la verdad no", "no tengo tiempo",
      "no, muchas gracias", "nel, gracias"]
RESOLVED_YES = ["sí", "sí, ya quedó", "sí quedó resuelto", "sí, ya se resolvió", "claro que sí", "sí, todo bien",
                "no… bueno, sí"]
RESOLVED_NO = ["no", "no, sigue igual", "todavía no", "no, no quedó resuelto", "no, sigue fallando", "aún no",
               "no, sigue el problema", "nel"]
GLOBAL = {
    "opt_out": ["no me vuelvan a llamar", "ya no me llamen", "quíteme de su lista", "bórrenme de su lista",
                "no quiero que me llamen más", "por favor ya no me llamen", "dejen de llamarme",
                "no, y no me vuelvan a llamar", "ya no me anden llamando", "ya no me estén marcando"],
    "human": ["páseme con un asesor", "quiero hablar con una persona", "comuníqueme con un asesor",
              "quiero hablar con alguien", "con un operador, por favor", "páseme a un humano",
              "quiero hablar con un supervisor", "con una persona de verdad"],
    "repeat": ["¿cómo?", "¿perdón?", "no le entendí", "¿me lo repite?", "¿mande?", "¿qué dijo?", "repítame, por favor"],
    "callback_later": ["ahorita no puedo", "llámeme en la tarde", "llámeme después de las cinco",
                       "estoy manejando, llámeme más tarde", "llámeme mañana", "ahorita estoy ocupado",
                       "ahorita ando en el trabajo", "márqueme al rato"],
    "wrong_person": ["se equivocó de número", "aquí no vive", "número equivocado", "no, aquí no vive esa persona"],
}
FILLERS = ["", "eh, ", "este, ", "pues ", "mmm, ", "a ver, ", "oiga, ", "mire, "]
COURTESIES = ["", ", gracias", ", señorita", ", joven", "."]


def base_items() -> list[Item]:
    items = _score_items()
    items += [Item("consent", t, "yes") for t in YES] + [Item("consent", t, "no") for t in NO]
    items += [Item("resolved", t, "yes") for t in RESOLVED_YES] + [Item("resolved", t, "no") for t in RESOLVED_NO]
    for question in ("consent", "score", "resolved"):
        items += [Item(question, t, intent) for intent, phrases in GLOBAL.items() for t in phrases]
    return items


# Out-of-grammar answers: heard at a closed question but not one of its answers, so they must never be
# stored (the agent asks again). Digits outside 1–5 at the score question, digits at a yes/no question,
# and "I don't know" / "maybe" / a range. Labelled ``unknown``.
OUT_OF_GRAMMAR = {
    "score": ["cero", "seis", "siete", "ocho", "nueve", "diez", "un ocho", "le doy un diez", "no sé",
              "entre tres y cuatro", "no me acuerdo"],
    "consent": ["cuatro", "cinco", "no sé", "tal vez"],
    "resolved": ["cuatro", "cinco", "no sé", "tal vez"],
}


def out_of_grammar_items() -> list[Item]:
    """The out-of-grammar answers of every closed question, each labelled ``unknown``."""
    return [Item(question, t, "unknown") for question, texts in OUT_OF_GRAMMAR.items() for t in texts]


def written_set(size: int = 600, seed: int = 7) -> list[Item]:
    """Every base answer once as written, then filler/courtesy variants up to ``size``."""
    rng = random.Random(seed)
    bases = base_items()
    out = list(bases)
    seen = {(i.question, i.text) for i in out}
    while len(out) < size:
        item = rng.choice(bases)
        text = rng.choice(FILLERS) + item.text + rng.choice(COURTESIES)
        if (item.question, text) not in seen:
            seen.add((item.question, text))
            out.append(Item(item.question, text, item.intent, item.score))
    return out
