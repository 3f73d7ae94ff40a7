"""Calling windows and the per-country presets."""

from __future__ import annotations

import pytest

from dialer.compliance.preset_catalog import builtin_catalog, preset_for
from dialer.compliance.windows import WeeklyWindow, WindowError, parse_range


def test_a_range_reads_as_minutes_after_midnight():
    assert parse_range("08:00-21:00") == (480, 1260)
    assert parse_range("00:00-24:00") == (0, 1440)


@pytest.mark.parametrize(
    "text", ["8-21", "21:00-08:00", "09:00-09:00", "25:00-26:00", "09:60-10:00", "24:30-24:45"]
)
def test_an_unreadable_or_backwards_range_is_refused(text):
    with pytest.raises(WindowError):
        parse_range(text)


def test_days_left_out_are_closed():
    window = WeeklyWindow.from_ranges({"mon": ["09:00-12:00", "14:00-20:00"]})
    assert window.is_open(0, 9 * 3600)
    assert not window.is_open(0, 13 * 3600)
    assert not window.is_open(1, 10 * 3600)


def test_the_end_of_a_range_is_exclusive():
    window = WeeklyWindow.uniform("08:00-21:00")
    assert window.is_open(3, 21 * 3600 - 1)
    assert not window.is_open(3, 21 * 3600)


def test_intersection_keeps_only_hours_open_in_both():
    preset = WeeklyWindow.uniform("08:00-21:00")
    campaign = WeeklyWindow.from_ranges({"mon": ["07:00-10:00", "20:00-23:00"], "sun": ["12:00-13:00"]})
    both = preset.intersect(campaign)
    assert both.to_ranges()["mon"] == ("08:00-10:00", "20:00-21:00")
    assert both.to_ranges()["sun"] == ("12:00-13:00",)
    assert preset.covers(both)
    assert not campaign.covers(preset)


def test_overlapping_ranges_merge_so_equal_windows_compare_equal():
    merged = WeeklyWindow.from_ranges({"tue": ["09:00-12:00", "11:00-14:00"]})
    assert merged == WeeklyWindow.from_ranges({"tue": ["09:00-14:00"]})


def test_describe_folds_runs_of_equal_days():
    assert preset_for("AU").window.describe() == "Mon–Fri 09:00–20:00; Sat 09:00–17:00"
    assert preset_for("FR").window.describe() == "Mon–Fri 10:00–13:00, 14:00–20:00"


@pytest.mark.parametrize(
    ("region", "weekday", "hhmm", "is_open"),
    [
        ("US", 6, "08:00", True),  # TCPA: every day 8-21
        ("US", 2, "21:00", False),
        ("CA", 4, "21:29", True),  # CRTC: weekdays until 21:30
        ("CA", 5, "18:00", False),  # weekends until 18:00
        ("GB", 6, "12:00", False),  # no Sundays
        ("DE", 5, "17:59", True),
        ("FR", 1, "13:30", False),  # lunch break
        ("FR", 5, "11:00", False),  # no Saturdays
        ("IN", 6, "20:59", True),
        ("AU", 5, "17:00", False),  # Saturday until 17:00
        ("BR", 5, "10:00", False),
        ("CN", 0, "09:00", True),
        ("PR", 0, "08:00", True),  # US territories follow the US preset
        ("ZZ", 6, "12:00", False),  # unknown country: conservative default, no Sundays
        ("ZZ", 5, "19:59", True),
    ],
)
def test_country_presets(region, weekday, hhmm, is_open):
    hour, minute = map(int, hhmm.split(":"))
    assert preset_for(region).window.is_open(weekday, hour * 3600 + minute * 60) is is_open


def test_every_preset_names_its_source():
    catalog = builtin_catalog()
    regions = {region for name in catalog.names() for region in catalog.get(name).regions}
    assert all(len(preset_for(region).source) > 20 for region in regions)
