"""Spanish (Mexico) text normalisation for the voice: digits, times, dates, phone numbers, amounts,
percentages and abbreviations written out as a Mexican says them, so the TTS never guesses.

``normalize_for_speech`` rewrites a whole prompt (text without any of these is returned unchanged);
``speakable_name`` re-cases a customer's name («JOSÉ PÉREZ» → «José Pérez»). The words and the
choices (hour style, masculine «Lic.», phone grouping) are data in ``prompts/es_MX/normalize.yaml``.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, Callable, Literal

from ..prompts_data import load_yaml

Form = Literal["full", "apocope", "feminine"]
"""How «uno» ends: «veintiuno» alone, «veintiún clientes», «veintiuna personas»."""

_UPPER = "A-ZÁÉÍÓÚÑÜ"
_NUMBER = r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<dec>\d+))?"   # 1,250.50 (Mexican separators)
_NUMBER_END = r"(?!\w|[.,]\d)"
_AMPM = r"(?P<ampm>[aApP])\.?\s?[mM]\.?(?!\w)"


@dataclass(frozen=True)
class _Abbreviations:
    """One group of abbreviations: where they may stand (``pattern``) and what they say."""

    pattern: re.Pattern[str]
    expansions: dict[str, str]
    may_end_sentence: bool  # «etc.» may; «Sr.» never (its period is not the sentence's)
    after_la: dict[str, str] = field(default_factory=dict)  # «la Lic.» → licenciada


@dataclass(frozen=True)
class _Rules:
    """normalize.yaml, with the patterns built from it."""

    data: dict[str, Any]
    not_nouns: frozenset[str]
    feminine_nouns: frozenset[str]
    abbreviations: list[_Abbreviations]
    money_before: re.Pattern[str]
    money_after: re.Pattern[str]
    units: re.Pattern[str]
    first_day: re.Pattern[str]
    clock: re.Pattern[str]
    bare_hour: re.Pattern[str]
    day_part_follows: re.Pattern[str]
    name_particles: frozenset[str]


def _alternation(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


def _spellings(abbreviation: str, lower_too: bool) -> list[str]:
    """«Sr.» is also written «SR.» (and «sr.» for titles)."""
    variants = [abbreviation, abbreviation.upper(), abbreviation[:1].upper() + abbreviation[1:]]
    return variants + [abbreviation.lower()] if lower_too else variants


def _abbreviation_rule(table: dict[str, str], after: str, lower_too: bool, may_end_sentence: bool,
                       feminine: dict[str, str] | None = None) -> _Abbreviations:
    def spelled(words: dict[str, str]) -> dict[str, str]:
        return {variant: word for abbr, word in words.items() for variant in _spellings(abbr, lower_too)}

    expansions = spelled(table)
    pattern = re.compile(rf"(?<![\w.])(?P<abbr>{_alternation(list(expansions))}){after}")
    return _Abbreviations(pattern, expansions, may_end_sentence, spelled(feminine or {}))


@lru_cache(maxsize=1)
def rules() -> _Rules:
    """The normalisation data, loaded once."""
    data = load_yaml("normalize.yaml")
    abbreviations = data["abbreviations"]
    money = data["money"]
    months = data["dates"]["months"]
    codes = _alternation(list(money["codes"]))
    three_letter = _alternation([c for c in money["codes"] if re.fullmatch(r"[A-Z]{3}", c)])
    scales = _alternation(list(money["scales"]))
    suffixes = _alternation(data["times"]["hour_suffixes"])
    return _Rules(
        data=data,
        not_nouns=frozenset(data["not_nouns"]),
        feminine_nouns=frozenset(data["feminine_nouns"]),
        abbreviations=[
            _abbreviation_rule(abbreviations["titles"], r"(?=\s+[^\W\d_])", True, False,
                               abbreviations["feminine_titles"]),
            _abbreviation_rule(abbreviations["places"], r"(?=\s+\w)", False, False),
            _abbreviation_rule(abbreviations["before_number"], r"(?=\s?\d)", True, False),
            _abbreviation_rule(abbreviations["words"], r"(?!\w)", True, True),
        ],
        money_before=re.compile(
            rf"(?<![\w$€])(?:(?P<symbol>{_alternation(list(money['symbols']))})|(?P<pcode>{three_letter})\s?\$?)"
            rf"\s?{_NUMBER}{_NUMBER_END}(?:\s(?P<scale>{scales})(?!\w))?"
            rf"(?:\s(?:de\s)?(?P<code>{codes})(?!\w))?"),
        money_after=re.compile(rf"(?<![\w.,$]){_NUMBER}{_NUMBER_END}(?:\s(?P<scale>{scales}))?"
                               rf"\s?(?:de\s)?(?P<code>{codes})(?!\w)"),
        units=re.compile(rf"(?<![\w.,]){_NUMBER}\s?(?P<unit>{_alternation(list(data['units']))})(?!\w)\.?"),
        first_day=re.compile(rf"(?<![\w.,])0?1(?=\s+de\s+(?:{_alternation(months)})\b)", re.IGNORECASE),
        clock=re.compile(rf"(?:\b(?P<art>[Ll]as?)\s+)?(?<![\w:.,/])(?P<h>\d{{1,2}}):(?P<m>\d{{2}})(?![\w:]|[.,]\d)"
                         rf"(?:\s?{_AMPM})?(?:\s?(?:{suffixes})(?!\w)\.?)?"),
        bare_hour=re.compile(rf"(?:\b(?P<art>[Ll]as?)\s+)?(?<![\w:.,])(?P<h>\d{{1,2}})\s?"
                             rf"(?:{_AMPM}|(?P<suffix>{suffixes})(?!\w)\.?)"),
        day_part_follows=re.compile(rf"\s+(?:{_alternation(data['times']['written_day_parts'])})(?!\w)",
                                    re.IGNORECASE),
        name_particles=frozenset(data["names"]["particles"]),
    )


# ── numbers ─────────────────────────────────────────────────────────────────────────────────────────

def _below_thousand(n: int, one: Form, feminine_hundreds: bool) -> str:
    words = rules().data["numbers"]
    hundreds, rest = divmod(n, 100)
    parts: list[str] = []
    if hundreds:
        if hundreds == 1:
            parts.append(words["hundred_alone"] if rest == 0 else words["hundreds"][1])
        else:
            word = words["hundreds"][hundreds]
            parts.append(word[:-2] + "as" if feminine_hundreds else word)
    if rest == 1:
        parts.append(words["one"][one])
    elif rest == 21:
        parts.append(words["twenty_one"][one])
    elif 0 < rest < 30:
        parts.append(words["units"][rest])
    elif rest >= 30:
        tens, unit = divmod(rest, 10)
        parts.append(words["tens"][tens])
        if unit:
            parts += ["y", words["one"][one] if unit == 1 else words["units"][unit]]
    return " ".join(parts)


def number_words(n: int, form: Form = "full") -> str:
    """0 … 999 999 999 in words: ``number_words(21, "apocope")`` → «veintiún»."""
    words = rules().data["numbers"]
    if not 0 <= n <= words["max_cardinal"]:
        raise ValueError(f"{n} is outside 0…{words['max_cardinal']}")
    if n == 0:
        return words["units"][0]
    millions, rest = divmod(n, 1_000_000)
    thousands, units = divmod(rest, 1000)
    parts: list[str] = []
    if millions:
        singular, plural = words["million"]
        count = _below_thousand(millions, "apocope", False)
        parts.append(f"{count} {singular if millions == 1 else plural}")
    if thousands:
        if thousands > 1:
            parts.append(_below_thousand(thousands, "apocope", form == "feminine"))
        parts.append(words["thousand"])
    if units:
        parts.append(_below_thousand(units, form, form == "feminine"))
    return " ".join(parts)


def _digit_words(digits: str) -> str:
    return " ".join(rules().data["numbers"]["units"][int(d)] for d in digits)


def _group_words(digits: str) -> str:
    """A group of digits as said in a phone number or a code: «05» → «cero cinco», «12» → «doce»."""
    if len(digits) > 1 and digits[0] == "0":
        return f"{_digit_words(digits[0])} {_group_words(digits[1:])}"
    if int(digits) > rules().data["numbers"]["max_cardinal"]:
        return _digit_words(digits)
    return number_words(int(digits))


def _number_text(integer: str, decimals: str | None, form: Form) -> str:
    """A written number (1,250 / 3.5 / 007 / 1234567890123) in words."""
    plain = integer.replace(",", "")
    if len(plain) > 1 and plain[0] == "0" and "," not in integer:
        said = _digit_words(plain)
    elif int(plain) > rules().data["numbers"]["max_cardinal"]:
        said = _digit_words(plain)
    else:
        said = number_words(int(plain), form if not decimals else "full")
    if decimals:
        fraction = _group_words(decimals) if len(decimals) <= 3 else _digit_words(decimals)
        said += f" {rules().data['numbers']['decimal_point']} {fraction}"
    return said


def _form_after(text: str, end: int) -> Form:
    """«un» before a noun, «una» before a feminine one, «uno» otherwise (end of phrase, «de», «para»…)."""
    following = re.match(r"[ \u00a0]([^\W\d_]+)", text[end:])
    if following is None:
        return "full"
    word = following.group(1)
    if word[0].isupper() or word in rules().not_nouns or word.endswith("mente"):
        return "full"
    return "feminine" if word in rules().feminine_nouns else "apocope"


# ── rewriting helpers ───────────────────────────────────────────────────────────────────────────────

def _at_sentence_start(text: str, start: int) -> bool:
    before = text[:start].rstrip().rstrip("¿¡«\"'(").rstrip()
    return not before or before[-1] in ".!?…"


def _capitalised(written: str, text: str, start: int) -> bool:
    """Whether what replaces ``written`` starts with a capital: «Sr.» always at a sentence start, a
    number only after an earlier sentence (the splitter needs it; the first word is left alone)."""
    if written[0].isalpha():
        return written[0].isupper() and _at_sentence_start(text, start)
    return bool(text[:start].strip()) and _at_sentence_start(text, start)


def _sentence_ends_after(text: str, end: int) -> bool:
    """Whether a period swallowed with an abbreviation («etc.», «a.m.») also ended the sentence."""
    rest = text[end:]
    return not rest.strip() or re.match(rf"\s+[¿¡«\"(]?[{_UPPER}]", rest) is not None


def _rewrite(pattern: re.Pattern[str], say: Callable[[re.Match[str]], str | None], text: str,
             keep_period: bool = True) -> str:
    """``pattern.sub`` with ``say``, which returns None to keep a match as written. What is said at the
    start of a sentence starts with a capital (sentence splitting looks for one); with ``keep_period``,
    a period the match took that also ended the sentence («etc.», «a.m.») is put back."""

    def replace(match: re.Match[str]) -> str:
        said = say(match)
        if said is None:
            return match.group(0)
        written = match.group(0)
        if said and _capitalised(written, match.string, match.start()):
            said = said[0].upper() + said[1:]
        if (keep_period and written.endswith(".") and not said.endswith(".")
                and _sentence_ends_after(match.string, match.end())):
            said += "."
        return said

    return pattern.sub(replace, text)


# ── rules ───────────────────────────────────────────────────────────────────────────────────────────

# Ten digits, area code 2–9, as Mexican numbers are written; +52 (and the old mobile 1) is not said.
_PHONE = re.compile(
    r"(?<![\w$.,+/:-])(?:\+\s?52[\s.-]?(?:1[\s.-]?)?)?"
    r"(?P<number>[2-9]\d{9}"
    r"|\(?[2-9]\d\)?[\s.-]?\d{4}[\s.-]?\d{4}"
    r"|\(?[2-9]\d{2}\)?[\s.-]?\d{3}[\s.-]?\d{4}"
    r"|[2-9]\d(?:[\s.-]\d{2}){4})"
    r"(?![\w/:-]|[.,]\d)")
_PERCENT = re.compile(rf"(?<![\w.,]){_NUMBER}[ \u00a0]?%")
_NUMERIC_DATE = re.compile(
    r"(?<![\w/.:-])(?P<d>\d{1,2})(?P<sep>[/.-])(?P<m>\d{1,2})(?P=sep)(?P<y>\d{4})(?![\w/-]|[.,]\d)")
_ISO_DATE = re.compile(r"(?<![\w/.:-])(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})(?![\w/:-]|[.,]\d)")
_ORDINAL = re.compile(r"(?<![\w.,])(?P<n>\d{1,2})(?:[ \u00a0]?(?P<sign>[º°ª])(?!\w)"
                      r"|(?P<suffix>er|ro|ra|do|da|to|ta|vo|va|mo|ma|no|na|o|a)(?!\w))")
_TIME_RANGE = re.compile(r"(?<![\w:.,/])(?P<from>\d{1,2}:\d{2})\s?[-–]\s?(?=\d{1,2}:\d{2}(?![\w:]|[.,]\d))")
_GENERIC_NUMBER = re.compile(rf"(?<![\w.,]){_NUMBER}{_NUMBER_END}")
_FEMININE_ORDINAL = {"ª", "a", "ra", "da", "ta", "va", "ma", "na"}


def _say_phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group("number"))
    if digits[:2] in rules().data["phones"]["two_digit_area_codes"]:
        groups = [digits[i:i + 2] for i in range(0, 10, 2)]        # 55, 12, 34, 56, 78
    else:
        groups = [digits[:3], digits[3:6], digits[6:8], digits[8:]]  # 800, 123, 45, 67
    return ", ".join(_group_words(g) for g in groups)


def _say_money(match: re.Match[str]) -> str | None:
    money = rules().data["money"]
    currency = money["codes"].get(match.group("code") or match.groupdict().get("pcode") or "")
    currency = currency or money["symbols"][match.groupdict().get("symbol") or "$"]
    integer = match.group("int").replace(",", "")
    if len(integer) > len(str(rules().data["numbers"]["max_cardinal"])):
        return None
    value = Decimal(integer) + Decimal(f"0.{match.group('dec') or 0}")
    if match.group("scale"):
        value *= money["scales"][match.group("scale")]
    value = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    whole, cents = int(value), int((value % 1) * 100)
    if whole > rules().data["numbers"]["max_cardinal"]:
        return None
    singular, plural = money["currencies"][currency]
    parts: list[str] = []
    if whole or not cents:
        count = number_words(whole, "apocope")
        if whole and whole % 1_000_000 == 0:
            count += " de"                      # dos millones de pesos
        parts.append(f"{count} {singular if whole == 1 else plural}")
    if cents:
        cent, cents_word = money["cents"]
        parts.append(f"{number_words(cents, 'apocope')} {cent if cents == 1 else cents_word}")
    return f" {money['cents_joiner']} ".join(parts)


def _say_percent(match: re.Match[str]) -> str:
    return f"{_number_text(match.group('int'), match.group('dec'), 'full')} {rules().data['percent']}"


def _say_date(day: int, month: int, year: int) -> str | None:
    dates = rules().data["dates"]
    first_year, last_year = dates["year_range"]
    if not (first_year <= year <= last_year and 1 <= month <= 12):
        return None
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    day_said = dates["first_day"] if day == 1 else number_words(day)
    return f"{day_said} de {dates['months'][month - 1]} de {number_words(year)}"


def _say_numeric_date(match: re.Match[str]) -> str | None:
    return _say_date(int(match.group("d")), int(match.group("m")), int(match.group("y")))


def _hour_words(hour24: int, minutes: int, ampm: str | None, with_day_part: bool = True) -> str:
    times = rules().data["times"]
    hour12 = hour24 % 12 or 12
    said = times["one_o_clock"] if hour12 == 1 else number_words(hour12)
    if minutes == 15:
        said += f" y {times['quarter']}"
    elif minutes == 30:
        said += f" y {times['half']}"
    elif 0 < minutes < 30:
        said += f" y {number_words(minutes)}"
    elif minutes > 30:
        said += f" {number_words(minutes)}"
    if ampm == "a" and 1 <= hour24 <= 5:
        part = times["early_morning"]
    else:
        part = next(p["say"] for p in times["day_parts"] if p["from"] <= hour24 <= p["to"])
    return f"{said} {part}" if part and with_day_part else said


def _say_time(match: re.Match[str]) -> str | None:
    """«a las 17:30» → «a las cinco y media de la tarde»; «las 1:00» → «la una»; 25:61 → numbers."""
    hour = int(match.group("h"))
    minutes = int(match.groupdict().get("m") or 0)
    ampm = (match.group("ampm") or "").lower() or None
    article = match.group("art")
    if ampm:
        if not 1 <= hour <= 12 and not (ampm == "p" and 13 <= hour <= 23):
            return None
        if hour <= 12:
            hour = (0 if hour == 12 else hour) if ampm == "a" else (12 if hour == 12 else hour + 12)
    if hour > 23 or minutes > 59:
        if match.groupdict().get("m") is None:
            return None
        said = f"{_group_words(match.group('h'))} {_group_words(match.group('m'))}"
        return f"{article} {said}" if article else said
    day_part_written = rules().day_part_follows.match(match.string, match.end()) is not None
    said = _hour_words(hour, minutes, ampm, with_day_part=not day_part_written)
    if article:
        fixed = "la" if hour % 12 == 1 else "las"
        said = f"{fixed.capitalize() if article[0].isupper() else fixed} {said}"
    return said


def _say_bare_hour(match: re.Match[str]) -> str | None:
    """«a las 17 hrs», «9 am»: a clock time. «24 hrs» with no «las» is left to the units rule."""
    if match.group("suffix") and not match.group("art"):
        return None
    return _say_time(match)


def _say_ordinal(match: re.Match[str]) -> str | None:
    n = int(match.group("n"))
    ordinals = rules().data["ordinals"]
    if not 1 <= n <= 10:
        return None
    mark = match.group("sign") or match.group("suffix")
    if mark in _FEMININE_ORDINAL:
        return ordinals["feminine"][n - 1]
    if mark == "er" or (_form_after(match.string, match.end()) != "full" and n in ordinals["apocope"]):
        return ordinals["apocope"].get(n, ordinals["masculine"][n - 1])
    return ordinals["masculine"][n - 1]


def _say_unit(match: re.Match[str]) -> str:
    singular, plural, gender = rules().data["units"][match.group("unit")]
    one = match.group("int") == "1" and not match.group("dec")
    count = _number_text(match.group("int"), match.group("dec"), "feminine" if gender == "f" else "apocope")
    return f"{count} {singular if one else plural}"


def _say_number(match: re.Match[str]) -> str:
    text, integer = match.string, match.group("int")
    form = _form_after(text, match.end())
    year_range, year_words = rules().data["dates"]["year_range"], rules().data["dates"]["year_words"]
    previous = re.search(r"([^\W\d_]+)\s+$", text[:match.start()])
    if (len(integer) == 4 and year_range[0] <= int(integer) <= year_range[1] and previous
            and previous.group(1).lower() in year_words):
        form = "full"                           # en 2021 → dos mil veintiuno
    said = _number_text(integer, match.group("dec"), form)
    value = int(integer.replace(",", ""))
    if form != "full" and not match.group("dec") and value and value % 1_000_000 == 0:
        said += " de"                           # dos millones de clientes
    return said


def _say_abbreviation(group: _Abbreviations) -> Callable[[re.Match[str]], str]:
    def say(match: re.Match[str]) -> str:
        abbreviation = match.group("abbr")
        said = group.expansions[abbreviation]
        if abbreviation in group.after_la and re.search(r"(?<!\w)la\s+$", match.string[:match.start()], re.I):
            said = group.after_la[abbreviation]
        if match.string[match.end():match.end() + 1].isdigit():
            said += " "                         # «No.5» → «número 5»
        return said
    return say


def normalize_for_speech(text: str) -> str:
    """``text`` as a Mexican would say it: «a las 17:30» → «a las cinco y media de la tarde».

    Pure and deterministic. Punctuation is kept (sentence splitting still works); text with no
    digits, abbreviations or symbols comes back unchanged."""
    r = rules()
    for group in r.abbreviations:
        text = _rewrite(group.pattern, _say_abbreviation(group), text, keep_period=group.may_end_sentence)
    if not any(c.isdigit() for c in text):
        return text
    for pattern, say in (
        (_TIME_RANGE, lambda m: f"{m.group('from')} {r.data['times']['range_word']} "),
        (_PHONE, _say_phone),
        (r.money_before, _say_money),
        (r.money_after, _say_money),
        (_PERCENT, _say_percent),
        (_NUMERIC_DATE, _say_numeric_date),
        (_ISO_DATE, _say_numeric_date),
        (r.first_day, lambda m: r.data["dates"]["first_day"]),
        (r.clock, _say_time),
        (r.bare_hour, _say_bare_hour),
        (_ORDINAL, _say_ordinal),
        (r.units, _say_unit),
        (_GENERIC_NUMBER, _say_number),
    ):
        text = _rewrite(pattern, say, text)
    return text


def speakable_name(name: str) -> str:
    """A customer's name as it should be written for the voice: «JOSÉ PÉREZ» → «José Pérez»,
    «maría de la luz garcía» → «María de la Luz García». Words already in mixed case («McAllen»)
    and accents are kept as given; «Ma.», «Gpe.», «Fco.» are written out."""
    r = rules()
    short_names = {k.lower(): v for k, v in r.data["names"]["abbreviations"].items()}
    words: list[str] = []
    for i, word in enumerate(name.split()):
        if word.lower() in short_names:
            words.append(short_names[word.lower()])
        elif not (word.isupper() or word.islower()):
            words.append(word)
        elif i > 0 and word.lower() in r.name_particles:
            words.append(word.lower())
        else:
            words.append(re.sub(r"[^\W\d_]+", lambda m: m.group(0).capitalize(), word.lower()))
    return " ".join(words)
