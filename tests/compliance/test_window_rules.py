"""Calling window in the callee's local time: every zone, holidays, DST, and when it next opens."""

from __future__ import annotations

from datetime import datetime

import pytest

from dialer.compliance import CallingHours, CompliancePolicy, Verdict, build_gate
from dialer.compliance.opening import next_open, zone_calendars
from dialer.compliance.rules.window import HolidayRule, HoursRule, number_zones
from dialer.compliance.windows import WeeklyWindow
from dialer.numbers import NumberType, PhoneNumber

from .helpers import local, number, request, utc

POLICY = CompliancePolicy()  # presets, holidays skipped


def hours(raw: str, region: str, now: datetime, policy: CompliancePolicy = POLICY):
    pn = number(raw, region)
    return HoursRule().evaluate(request(pn.e164, region, policy=policy, pre=pn), pn, now)


def holiday(raw: str, region: str, now: datetime, policy: CompliancePolicy = POLICY):
    pn = number(raw, region)
    return HolidayRule().evaluate(request(pn.e164, region, policy=policy, pre=pn), pn, now)


# Real numbers of each country's plan, at local times just inside and outside the preset.
@pytest.mark.parametrize(
    ("raw", "region", "zone", "when", "verdict"),
    [
        ("+12025550123", "US", "America/New_York", (2025, 7, 8, 8, 0), Verdict.ALLOW),
        ("+12025550123", "US", "America/New_York", (2025, 7, 8, 7, 59), Verdict.BLOCK),
        ("+12025550123", "US", "America/New_York", (2025, 7, 8, 21, 0), Verdict.BLOCK),
        ("+14155550123", "US", "America/Los_Angeles", (2025, 7, 6, 20, 59), Verdict.ALLOW),
        ("+16135550123", "CA", "America/Toronto", (2025, 7, 8, 21, 15), Verdict.ALLOW),
        ("+16135550123", "CA", "America/Toronto", (2025, 7, 12, 18, 15), Verdict.BLOCK),
        ("+442079460000", "GB", "Europe/London", (2025, 7, 13, 12, 0), Verdict.BLOCK),
        ("+442079460000", "GB", "Europe/London", (2025, 7, 12, 16, 59), Verdict.ALLOW),
        ("+4930123456", "DE", "Europe/Berlin", (2025, 7, 8, 19, 59), Verdict.ALLOW),
        ("+4930123456", "DE", "Europe/Berlin", (2025, 7, 13, 12, 0), Verdict.BLOCK),
        ("+33142685300", "FR", "Europe/Paris", (2025, 7, 8, 13, 30), Verdict.BLOCK),
        ("+33142685300", "FR", "Europe/Paris", (2025, 7, 8, 14, 0), Verdict.ALLOW),
        ("+919876543210", "IN", "Asia/Kolkata", (2025, 7, 8, 20, 30), Verdict.ALLOW),
        ("+919876543210", "IN", "Asia/Kolkata", (2025, 7, 8, 21, 30), Verdict.BLOCK),
        ("+8613912345678", "CN", "Asia/Shanghai", (2025, 7, 8, 17, 59), Verdict.ALLOW),
        ("+8613912345678", "CN", "Asia/Shanghai", (2025, 7, 12, 10, 0), Verdict.BLOCK),
        ("+5511987654321", "BR", "America/Sao_Paulo", (2025, 7, 8, 9, 0), Verdict.ALLOW),
        ("+5511987654321", "BR", "America/Sao_Paulo", (2025, 7, 8, 18, 0), Verdict.BLOCK),
        ("+61731234567", "AU", "Australia/Brisbane", (2025, 7, 12, 16, 59), Verdict.ALLOW),
        ("+61731234567", "AU", "Australia/Brisbane", (2025, 7, 13, 10, 0), Verdict.BLOCK),
    ],
)
def test_country_presets_apply_in_the_callees_local_time(raw, region, zone, when, verdict):
    assert hours(raw, region, local(zone, *when)).verdict is verdict


def test_a_us_call_at_9pm_eastern_is_blocked_even_though_it_is_6pm_in_california():
    result = hours("+12025550123", "US", local("America/Los_Angeles", 2025, 7, 8, 18, 0))
    assert result.blocked
    assert "America/New_York" in result.detail
    assert "local Tue 21:00" in result.detail


def test_number_on_two_zones_is_blocked_when_either_zone_is_closed():
    # Australian 08 numbers (SA/NT/WA) map to Adelaide and Perth; Perth is 1.5 h behind in winter.
    raw = "+61889001234"
    assert number(raw, "AU").zones == ("Australia/Adelaide", "Australia/Perth")
    adelaide_open_perth_closed = local("Australia/Adelaide", 2025, 7, 8, 10, 0)  # Perth 08:30
    result = hours(raw, "AU", adelaide_open_perth_closed)
    assert result.blocked
    assert "Australia/Perth" in result.detail
    assert "one of 2 zones" in result.detail
    # It opens when Perth reaches 09:00, i.e. 10:30 in Adelaide.
    assert result.retry_at == local("Australia/Perth", 2025, 7, 8, 9, 0).timestamp()
    assert not hours(raw, "AU", local("Australia/Perth", 2025, 7, 8, 9, 0)).blocked


def test_us_toll_free_is_callable_only_when_all_its_zones_are_open():
    toll_free = number("+18005551234", "US")
    assert len(toll_free.zones) > 20  # NANP-wide, from Guam to the Atlantic
    # 14:00 in New York is 04:00 next day in Guam: closed.
    result = hours("+18005551234", "US", local("America/New_York", 2025, 7, 8, 14, 0))
    assert result.blocked
    # The joint window: Guam from 08:00 (22:00 UTC) while Adak is still before 21:00.
    assert result.retry_at == utc(2025, 7, 8, 22, 0).timestamp()
    assert not hours("+18005551234", "US", utc(2025, 7, 8, 22, 0)).blocked


def test_brazilian_toll_free_must_be_open_from_noronha_to_acre():
    toll_free = number("+558001234567", "BR")
    assert set(toll_free.zones) == {
        "America/Manaus",
        "America/Noronha",
        "America/Rio_Branco",
        "America/Sao_Paulo",
    }
    # 09:00 in Sao Paulo is 07:00 in Rio Branco: closed until Rio Branco reaches 09:00.
    result = hours("+558001234567", "BR", local("America/Sao_Paulo", 2025, 7, 8, 9, 0))
    assert result.blocked
    assert result.retry_at == local("America/Rio_Branco", 2025, 7, 8, 9, 0).timestamp()
    # ... and it closes when Noronha reaches 18:00.
    assert hours("+558001234567", "BR", local("America/Noronha", 2025, 7, 8, 17, 59)).verdict is Verdict.ALLOW
    assert hours("+558001234567", "BR", local("America/Noronha", 2025, 7, 8, 18, 0)).blocked


def test_australian_mobile_spans_every_australian_zone():
    mobile = number("+61412345678", "AU")
    assert {"Australia/Perth", "Australia/Sydney", "Australia/Lord_Howe"} <= set(mobile.zones)
    result = hours("+61412345678", "AU", local("Australia/Sydney", 2025, 7, 8, 10, 0))  # Perth 08:00
    assert result.blocked


def test_us_independence_day_is_skipped():
    result = holiday("+12025550123", "US", local("America/New_York", 2025, 7, 4, 12, 0))
    assert result.blocked
    assert "Independence Day" in result.detail
    assert result.retry_at == local("America/New_York", 2025, 7, 5, 8, 0).timestamp()


def test_an_observed_holiday_is_skipped_too():
    # July 4th 2026 is a Saturday; the federal holiday is observed on Friday July 3rd.
    result = holiday("+12025550123", "US", local("America/New_York", 2026, 7, 3, 12, 0))
    assert result.blocked
    assert "observed" in result.detail


def test_gb_christmas_and_boxing_day_are_skipped():
    result = holiday("+442079460000", "GB", local("Europe/London", 2025, 12, 25, 11, 0))
    assert result.blocked
    assert "Christmas Day" in result.detail
    # Boxing Day (Fri) is a holiday too and Sat 27th opens at 09:00.
    assert result.retry_at == local("Europe/London", 2025, 12, 27, 9, 0).timestamp()


def test_french_public_holidays_are_never_callable():
    assert holiday("+33142685300", "FR", local("Europe/Paris", 2025, 7, 14, 11, 0)).blocked  # Fête nationale


def test_holidays_are_called_when_the_policy_does_not_skip_them():
    policy = CompliancePolicy(skip_holidays=False)
    assert not holiday("+12025550123", "US", local("America/New_York", 2025, 7, 4, 12, 0), policy).blocked
    assert not hours("+12025550123", "US", local("America/New_York", 2025, 7, 4, 12, 0), policy).blocked


def test_a_holiday_in_one_zone_of_a_multi_zone_number_blocks_it():
    # Hawaii's Kamehameha Day (June 11) applies to US numbers that may be in Pacific/Honolulu.
    result = holiday("+18005551234", "US", utc(2025, 6, 11, 22, 0))
    assert result.blocked
    assert "Pacific/Honolulu" in result.detail
    assert not holiday("+12025550123", "US", utc(2025, 6, 11, 16, 0)).blocked


def test_the_holiday_is_judged_by_the_callees_local_date():
    # 02:00 UTC on July 5th is still July 4th in California (19:00): blocked there, not in London.
    assert holiday("+14155550123", "US", utc(2025, 7, 5, 2, 0)).blocked
    assert not holiday("+14155550123", "US", utc(2025, 7, 5, 9, 0)).blocked


def test_spring_forward_gap_opens_at_the_end_of_the_gap():
    # A campaign window starting at 02:30, on the night 02:00 EST jumps to 03:00 EDT.
    policy = CompliancePolicy(calling_hours=CallingHours(sun=("02:30-05:00",)), override_country_hours=True)
    result = hours("+12025550123", "US", local("America/New_York", 2025, 3, 9, 1, 0), policy)
    assert result.blocked
    assert result.retry_at == local("America/New_York", 2025, 3, 9, 3, 0).timestamp()
    assert result.retry_at == utc(2025, 3, 9, 7, 0).timestamp()


def test_spring_forward_day_keeps_the_8am_start():
    result = hours("+12025550123", "US", local("America/New_York", 2025, 3, 9, 1, 30))
    assert result.retry_at == local("America/New_York", 2025, 3, 9, 8, 0).timestamp()
    assert result.retry_at == utc(2025, 3, 9, 12, 0).timestamp()


def test_fall_back_overlap_is_open_in_both_passes_through_the_window():
    policy = CompliancePolicy(calling_hours=CallingHours(sun=("01:15-01:45",)), override_country_hours=True)
    first = local("America/New_York", 2025, 11, 2, 1, 30, fold=0)  # EDT
    second = local("America/New_York", 2025, 11, 2, 1, 30, fold=1)  # EST, an hour later
    assert not hours("+12025550123", "US", first, policy).blocked
    assert not hours("+12025550123", "US", second, policy).blocked
    between = local("America/New_York", 2025, 11, 2, 1, 50, fold=0)
    result = hours("+12025550123", "US", between, policy)
    assert result.blocked
    assert result.retry_at == local("America/New_York", 2025, 11, 2, 1, 15, fold=1).timestamp()


def test_fall_back_evening_closes_at_9pm_standard_time():
    assert (
        hours("+12025550123", "US", local("America/New_York", 2025, 11, 2, 20, 59)).verdict is Verdict.ALLOW
    )
    assert hours("+12025550123", "US", utc(2025, 11, 3, 2, 0)).blocked  # 21:00 EST


def test_southern_hemisphere_dst_is_followed():
    # Sydney moves to AEDT on 2025-10-05; Brisbane does not: the gap between them grows to 1 h.
    tf = "+61299001234"
    assert hours(tf, "AU", local("Australia/Sydney", 2025, 10, 6, 9, 0)).verdict is Verdict.ALLOW
    assert hours(tf, "AU", local("Australia/Sydney", 2025, 10, 6, 8, 59)).blocked


def test_a_number_without_zones_falls_back_to_its_countrys_zones():
    bare = PhoneNumber("+12025550123", "US", NumberType.FIXED_LINE, ())
    assert len(number_zones(bare)) > 20
    result = HoursRule().evaluate(request(bare.e164, pre=bare, policy=POLICY), bare, utc(2025, 7, 8, 14, 0))
    assert result.blocked  # Guam is asleep


def test_a_number_with_no_known_zone_at_all_is_blocked_with_a_clear_detail():
    nowhere = PhoneNumber("+80012345678", "001", NumberType.TOLL_FREE, ())
    result = HoursRule().evaluate(request(nowhere.e164, pre=nowhere, policy=POLICY), nowhere, utc(2025, 7, 8))
    assert result.blocked
    assert result.retry_at is None
    assert "no time zone known" in result.detail


def test_an_unknown_zone_name_blocks_rather_than_guessing():
    odd = PhoneNumber("+12025550123", "US", NumberType.FIXED_LINE, ("Mars/Olympus_Mons",))
    result = HoursRule().evaluate(request(odd.e164, pre=odd, policy=POLICY), odd, utc(2025, 7, 8, 15))
    assert result.blocked
    assert "unknown time zone" in result.detail


def test_a_window_that_never_opens_is_retried_at_the_search_horizon():
    never = CompliancePolicy(calling_hours=CallingHours(), override_country_hours=True, window_search_days=3)
    now = utc(2025, 7, 8, 15)
    result = hours("+12025550123", "US", now, never)
    assert result.blocked
    assert result.retry_at == now.timestamp() + 3 * 86400
    assert "no opening" in result.detail


def test_the_search_for_the_next_opening_skips_weekends_and_holidays():
    # Friday 2025-04-18 (Good Friday) 20:30 in Paris: Sat, Sun closed, Easter Monday a holiday.
    result = hours("+33142685300", "FR", local("Europe/Paris", 2025, 4, 18, 20, 30))
    assert result.retry_at == local("Europe/Paris", 2025, 4, 22, 10, 0).timestamp()


def test_zones_that_are_never_open_together_have_no_opening():
    window = WeeklyWindow.uniform("09:00-10:00")
    calendars = zone_calendars(["Europe/London", "Asia/Tokyo"], "GB", skip_holidays=False)
    assert next_open(calendars, window, utc(2025, 7, 8).timestamp(), 10 * 86400) is None


def test_the_gate_blocks_outside_the_window_with_a_retry_time(index):
    gate = build_gate(POLICY, index)
    decision = gate.check(
        request("+12025550123", policy=POLICY), local("America/New_York", 2025, 7, 8, 22, 0)
    )
    assert decision.rule == "window.hours"
    assert decision.retry_at == local("America/New_York", 2025, 7, 9, 8, 0).timestamp()
