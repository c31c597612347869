"""Mexican phone numbers to E.164 (``+52`` and ten digits).

Accepts what CRMs export: spaces, dashes, dots, parentheses; ``+52``/``52``; the mobile ``1`` that
used to follow the country code (``+52 1 55 …``); and the pre-2019 dialling prefixes ``044``/``045``
(mobile) and ``01`` (long distance) in front of ten digits.
"""

from __future__ import annotations

import re


class PhoneError(ValueError):
    """The text is not a Mexican phone number; the message says why."""


TWO_DIGIT_AREAS = {"33", "55", "56", "81"}  # Guadalajara, Mexico City (55, 56), Monterrey


def normalize_mx(raw: str) -> str:
    text = (raw or "").strip()
    if not text:
        raise PhoneError("empty phone number")
    if re.search(r"[^\d\s\-\.\(\)\+/]", text):
        raise PhoneError(f"unexpected characters in phone number {raw!r}")
    plus = text.startswith("+")
    digits = re.sub(r"\D", "", text)
    if plus and not digits.startswith("52"):
        raise PhoneError(f"not a Mexican number (country code +{digits[:3]}…): {raw!r}")
    if len(digits) == 13 and digits.startswith("521"):
        digits = digits[3:]                      # +52 1 + ten digits (old mobile format)
    elif len(digits) == 12 and digits.startswith("52"):
        digits = digits[2:]
    elif len(digits) == 13 and digits[:3] in ("044", "045"):
        digits = digits[3:]
    elif len(digits) == 12 and digits.startswith("01"):
        digits = digits[2:]
    if len(digits) != 10:
        raise PhoneError(f"expected 10 national digits, got {len(digits)} in {raw!r}")
    if digits[0] in "01":
        raise PhoneError(f"a Mexican area code does not start with {digits[0]}: {raw!r}")
    return "+52" + digits


def area_code(e164: str) -> str:
    """The LADA (area code) of a ``+52`` number: two digits for 33/55/56/81, else three."""
    national = e164[3:] if e164.startswith("+52") else re.sub(r"\D", "", e164)[-10:]
    return national[:2] if national[:2] in TWO_DIGIT_AREAS else national[:3]
