"""Property tests: no number is ever allowed outside its window, and the retry time is the first opening."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

from hypothesis import event, given, settings
from hypothesis import strategies as st

from dialer.compliance import CallingHours, CompliancePolicy, DncIndex, build_gate
from dialer.compliance.opening import ZONE_SUBDIVISIONS, holiday_calendar
from dialer.compliance.windows import WEEKDAYS
from dialer.numbers import NumberType, PhoneNumber

from .helpers import request, utc

# Zones with DST in either hemisphere, half- and quarter-hour offsets, 30-minute DST (Lord Howe),
# transitions at midnight (Santiago, Havana), and zones that never change.
ZONES = [
    "America/New_York",
    "America/Los_Angeles",
    "America/Phoenix",
    "America/Adak",
    "America/St_Johns",
    "America/Sao_Paulo",
    "America/Santiago",
    "America/Havana",
    "Pacific/Honolulu",
    "Pacific/Chatham",
    "Europe/London",
    "Europe/Paris",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Australia/Adelaide",
    "Australia/Perth",
]
# DST transition days (UTC) of 2025 for the zones above: instants near them are the hard cases.
TRANSITIONS = [
    utc(2025, 3, 9, 7), utc(2025, 11, 2, 6), utc(2025, 3, 30, 1), utc(2025, 10, 26, 1),
    utc(2025, 4, 5, 15), utc(2025, 10, 4, 15), utc(2025, 4, 6, 3), utc(2025, 9, 7, 4),
    utc(2025, 3, 9, 5), utc(2025, 11, 2, 5), utc(2025, 4, 5, 14), utc(2025, 9, 27, 14),
]  # fmt: skip
GRID_S = 15 * 60  # every window edge and every offset change in ZONES lies on this UTC grid

quarter = st.integers(min_value=0, max_value=96).map(lambda q: q * 15)


@st.composite
def day_hours(draw: st.DrawFn) -> tuple[str, ...]:
    ranges = []
    for _ in range(draw(st.integers(0, 2))):
        a, b = sorted((draw(quarter), draw(quarter)))
        if a < b:
            ranges.append(f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}")
    return tuple(ranges)


hours_strategy = st.fixed_dictionaries({day: day_hours() for day in WEEKDAYS}).map(
    lambda d: CallingHours(**d)
)

instants = st.one_of(
    st.builds(
        lambda base, minutes: base.timestamp() + minutes * 60,
        st.sampled_from(TRANSITIONS),
        st.integers(min_value=-2 * 1440, max_value=2 * 1440),
    ),
    st.integers(min_value=int(utc(2024, 1, 1).timestamp()), max_value=int(utc(2027, 12, 31).timestamp())).map(
        float
    ),
)


def reference_open(zones: tuple[str, ...], calling: CallingHours, skip_holidays: bool, ts: float) -> bool:
    """Written independently of the gate: local wall time inside that weekday's hours, in every zone."""
    for name in zones:
        t = datetime.fromtimestamp(ts, ZoneInfo(name))
        if skip_holidays:
            days = holiday_calendar("US", ZONE_SUBDIVISIONS.get(("US", name)))
            if days is not None and t.date() in days:
                return False
        second = t.hour * 3600 + t.minute * 60 + t.second
        ranges = getattr(calling, WEEKDAYS[t.weekday()])
        if not any(_in(second, r) for r in ranges):
            return False
    return True


def _in(second: int, text: str) -> bool:
    start, end = text.split("-")
    sh, sm = map(int, start.split(":"))
    eh, em = map(int, end.split(":"))
    return (sh * 60 + sm) * 60 <= second < (eh * 60 + em) * 60


@settings(max_examples=250, deadline=None)
@given(
    zones=st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True).map(tuple),
    calling=hours_strategy,
    skip_holidays=st.booleans(),
    ts=instants,
)
def test_no_number_is_ever_allowed_outside_its_window(zones, calling, skip_holidays, ts):
    policy = CompliancePolicy(calling_hours=calling, override_country_hours=True, skip_holidays=skip_holidays)
    gate = build_gate(policy, DncIndex())
    pn = PhoneNumber("+12025550123", "US", NumberType.FIXED_LINE, zones)
    now = datetime.fromtimestamp(ts, ZoneInfo("UTC"))
    decision = gate.check(request(pn.e164, policy=policy, pre=pn), now)
    is_open = reference_open(zones, calling, skip_holidays, ts)
    if decision.allowed:
        event("allowed")
        assert is_open
        return
    assert decision.rule in {"window.hours", "window.holiday"}
    assert not is_open
    retry = decision.retry_at
    assert retry is not None
    assert retry > ts
    event("no opening within the horizon" if "no opening" in decision.detail else "blocked until an opening")
    if "no opening" not in decision.detail:
        assert reference_open(zones, calling, skip_holidays, retry)
    # Nothing opens earlier: every grid instant between now and the retry time is closed.
    first = math.ceil(ts / GRID_S) * GRID_S
    for grid in range(int(first), int(retry), GRID_S):
        assert not reference_open(zones, calling, skip_holidays, grid), f"open earlier at {grid}"


@settings(max_examples=150, deadline=None)
@given(zones=st.lists(st.sampled_from(ZONES), min_size=1, max_size=4, unique=True).map(tuple), ts=instants)
def test_presets_hold_in_every_zone_of_a_multi_zone_number(zones, ts):
    policy = CompliancePolicy()
    gate = build_gate(policy, DncIndex())
    pn = PhoneNumber("+12025550123", "US", NumberType.FIXED_LINE, zones)
    now = datetime.fromtimestamp(ts, ZoneInfo("UTC"))
    decision = gate.check(request(pn.e164, policy=policy, pre=pn), now)
    us_hours = CallingHours(**dict.fromkeys(WEEKDAYS, ("08:00-21:00",)))
    assert decision.allowed == reference_open(zones, us_hours, True, ts)
