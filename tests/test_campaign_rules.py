"""Mexican numbers, time zones by area code, federal holidays and the calling rules."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from encuestador.campaign.holidays import federal_holidays
from encuestador.campaign.phones import PhoneError, area_code, normalize_mx
from encuestador.campaign.rules import Attempt, CallingRules
from encuestador.campaign.zones import zone_name

UTC = timezone.utc


@pytest.mark.parametrize("raw", ["55 1234 5678", "(55) 1234-5678", "5512345678", "+52 55 1234 5678",
                                 "52 5512345678", "+52 1 55 1234 5678", "044 55 1234 5678", "045 5512345678",
                                 "01 55 1234 5678", "55.1234.5678"])
def test_phone_numbers_normalise_to_e164(raw):
    assert normalize_mx(raw) == "+525512345678"


@pytest.mark.parametrize("raw,why", [("", "empty"), ("12345", "10 national digits"), ("+1 212 555 0100", "country code"),
                                     ("55-1234-567x", "unexpected characters"), ("0512345678", "area code")])
def test_bad_phone_numbers_say_why(raw, why):
    with pytest.raises(PhoneError, match=why):
        normalize_mx(raw)


def test_area_codes_and_zones():
    assert area_code("+525512345678") == "55" and area_code("+526641234567") == "664"
    assert zone_name("+525512345678") == "America/Mexico_City"
    assert zone_name("+526641234567") == "America/Tijuana"
    assert zone_name("+526621234567") == "America/Hermosillo"
    assert zone_name("+529981234567") == "America/Cancun"
    assert zone_name("+526691234567") == "America/Mazatlan"
    assert zone_name("+523312345678") == "America/Mexico_City"


def test_federal_holidays():
    h2026 = federal_holidays(2026)
    assert date(2026, 2, 2) in h2026 and date(2026, 3, 16) in h2026 and date(2026, 11, 16) in h2026
    assert date(2026, 9, 16) in h2026 and date(2026, 12, 25) in h2026
    assert date(2030, 10, 1) in federal_holidays(2030) and date(2026, 10, 1) not in h2026


RULES = CallingRules.load()
CDMX, TIJUANA, CANCUN, HERMOSILLO = "+525512345678", "+526641234567", "+529981234567", "+526621234567"


def test_window_follows_the_customers_zone_and_baja_california_dst():
    # Wednesday 2026-07-15 15:30 UTC: CDMX 09:30, Cancún 10:30, Tijuana (PDT) 08:30, Hermosillo 08:30.
    summer = datetime(2026, 7, 15, 15, 30, tzinfo=UTC)
    assert all(RULES.verdict(p, summer, []).due for p in (CDMX, CANCUN, TIJUANA, HERMOSILLO))
    # 14:30 UTC: CDMX 08:30 but Tijuana 07:30 in summer (US DST) and Hermosillo 07:30.
    early = datetime(2026, 7, 15, 14, 30, tzinfo=UTC)
    assert RULES.verdict(CDMX, early, []).due
    assert "outside calling hours (local 07:30" in RULES.verdict(TIJUANA, early, []).reason
    assert not RULES.verdict(HERMOSILLO, early, []).due
    # In January Tijuana is UTC-8: 16:30 UTC is 08:30 there.
    winter = datetime(2026, 1, 14, 16, 30, tzinfo=UTC)
    assert RULES.verdict(TIJUANA, winter, []).due and RULES.verdict(TIJUANA, winter - timedelta(hours=1), []).reason.startswith("outside")
    # 18:00 local is already closed.
    assert not RULES.verdict(CDMX, datetime(2026, 7, 16, 0, 0, tzinfo=UTC), []).due


def test_sundays_and_holidays_are_closed():
    sunday = datetime(2026, 7, 19, 17, 0, tzinfo=UTC)
    assert RULES.verdict(CDMX, sunday, []).reason == "no calls on sun"
    independence = datetime(2026, 9, 16, 17, 0, tzinfo=UTC)
    assert "federal holiday (Día de la Independencia)" in RULES.verdict(CDMX, independence, []).reason


def test_preferred_slots_are_flagged():
    assert RULES.verdict(CDMX, datetime(2026, 7, 15, 17, 0, tzinfo=UTC), []).preferred       # Wed 11:00
    assert not RULES.verdict(CDMX, datetime(2026, 7, 17, 17, 0, tzinfo=UTC), []).preferred   # Fri 11:00


def test_retries_daily_limit_and_total_limit():
    t0 = datetime(2026, 7, 14, 16, 0, tzinfo=UTC)  # Tuesday 10:00 CDMX
    first = [Attempt(t0, "no_answer")]
    assert RULES.verdict(CDMX, t0 + timedelta(hours=3), first).reason.startswith("already called today")
    assert RULES.verdict(CDMX, t0 + timedelta(hours=23), first).reason.startswith("retry not before")
    assert RULES.verdict(CDMX, t0 + timedelta(hours=24), first).due
    three = [Attempt(t0 + timedelta(days=d), "voicemail") for d in range(3)]
    assert RULES.verdict(CDMX, t0 + timedelta(days=5), three).reason == "all 3 attempts used"
    assert RULES.verdict(CDMX, t0 + timedelta(days=1), [Attempt(t0, "completed")]).reason.startswith("survey finished")
    assert RULES.verdict(CDMX, t0, [Attempt(t0, None)]).reason == "a call to this customer is in progress"
    assert RULES.verdict(CDMX, t0, [], dnc=True).reason == "on the do-not-call list"


def test_callback_later_is_scheduled_inside_the_window():
    morning = datetime(2026, 7, 14, 16, 0, tzinfo=UTC)  # Tuesday 10:00 CDMX
    afternoon = RULES.callback_time(CDMX, morning, {"day_part": "afternoon"})
    assert afternoon == datetime(2026, 7, 14, 22, 0, tzinfo=UTC)
    after_five = RULES.callback_time(CDMX, morning, {"after_hour": 17})
    assert after_five == datetime(2026, 7, 14, 23, 0, tzinfo=UTC)
    late = RULES.callback_time(CDMX, morning, {"at_hour": 20})        # 20:00 is closed → next opening
    assert late == datetime(2026, 7, 15, 14, 0, tzinfo=UTC)             # Wednesday 08:00 CDMX
    saturday_evening = datetime(2026, 7, 18, 23, 30, tzinfo=UTC)        # Saturday 17:30 CDMX
    assert RULES.callback_time(CDMX, saturday_evening, {}) == datetime(2026, 7, 20, 14, 0, tzinfo=UTC)  # Monday 08:00
    # The requested time replaces the daily limit and the 24 h retry delay.
    calls = [Attempt(morning, "callback_later")]
    assert RULES.verdict(CDMX, afternoon, calls, callback_at=afternoon).due
    assert RULES.verdict(CDMX, afternoon - timedelta(minutes=1), calls, callback_at=afternoon).reason.startswith("callback requested")


def test_rules_reject_unknown_settings():
    with pytest.raises(ValueError, match="window: unknown setting"):
        CallingRules.load({"window": "always"})


def test_rules_report_every_bad_value_at_once():
    from encuestador.settings import SettingsError

    with pytest.raises(SettingsError) as caught:
        CallingRules.load({"start": "25:00", "end": 1020, "max_atempts": 2, "max_attempts": "3",
                           "days": ["lun"], "closed_dates": ["mañana"], "callback_hours": {"morning": 30}})
    errors = caught.value.errors
    assert "max_atempts: unknown setting (did you mean 'max_attempts'?)" in errors
    assert "start: no such time '25:00' (00:00 to 23:59)" in errors
    assert any(e.startswith('end: write the time in quotes: "17:00"') for e in errors)
    assert any(e.startswith("max_attempts: expected a whole number") for e in errors)
    assert any(e.startswith("days: unknown day names ['lun']") for e in errors)
    assert "closed_dates: not a date (YYYY-MM-DD): 'mañana'" in errors
    assert any(e.startswith("callback_hours.morning: expected an hour 0–23") for e in errors)
    assert len(errors) == 7


def test_a_window_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="end: 08:00 is not after start 18:00"):
        CallingRules.load({"start": "18:00", "end": "08:00"})


def test_a_complete_survey_is_never_due_again_whatever_the_outcome():
    now = datetime(2026, 7, 15, 17, 0, tzinfo=UTC)
    earlier = [Attempt(now - timedelta(days=2), "interrupted")]
    assert RULES.verdict(CDMX, now, earlier).due                              # interrupted: retried…
    verdict = RULES.verdict(CDMX, now, earlier, survey_complete=True)         # …unless every answer is in
    assert not verdict.due and verdict.reason.startswith("survey complete")
