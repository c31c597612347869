"""Mexican federal rest days (Ley Federal del Trabajo, art. 74): no survey calls on these."""

from __future__ import annotations

from datetime import date, timedelta


def _nth_monday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(7 - first.weekday()) % 7 + 7 * (n - 1))


def federal_holidays(year: int) -> dict[date, str]:
    days = {
        date(year, 1, 1): "Año Nuevo",
        _nth_monday(year, 2, 1): "Día de la Constitución",
        _nth_monday(year, 3, 3): "Natalicio de Benito Juárez",
        date(year, 5, 1): "Día del Trabajo",
        date(year, 9, 16): "Día de la Independencia",
        _nth_monday(year, 11, 3): "Día de la Revolución",
        date(year, 12, 25): "Navidad",
    }
    # Transmission of the federal executive: 1 October every six years from 2024 (1 December before).
    if year >= 2024 and (year - 2024) % 6 == 0:
        days[date(year, 10, 1)] = "Transmisión del Poder Ejecutivo Federal"
    elif year < 2024 and (2018 - year) % 6 == 0:
        days[date(year, 12, 1)] = "Transmisión del Poder Ejecutivo Federal"
    return days
