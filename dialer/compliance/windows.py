"""Calling windows: allowed local hours per day of week.

A window is what the law (or the campaign) allows in the callee's local time. The per-country
presets are data files (`dialer/compliance/presets/`, read by `preset_catalog`); a campaign can
only narrow them unless it sets `override_country_hours` explicitly (see `policy.py`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

MINUTES_PER_DAY = 24 * 60
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # Monday first, like date.weekday()

Interval = tuple[int, int]  # [start, end) in minutes after local midnight
DayHours = tuple[Interval, ...]

_RANGE = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})")


class WindowError(ValueError):
    """A calling-hours text that cannot be read, with what was wrong."""


def parse_range(text: str) -> Interval:
    """Parse "HH:MM-HH:MM" (end may be 24:00) into minutes after midnight."""
    match = _RANGE.fullmatch(text.strip())
    if match is None:
        raise WindowError(f"calling hours {text!r} are not in the form HH:MM-HH:MM")
    sh, sm, eh, em = (int(g) for g in match.groups())
    if sm > 59 or em > 59 or sh > 23 or eh > 24 or (eh == 24 and em != 0):
        raise WindowError(f"calling hours {text!r} contain an impossible time")
    start, end = sh * 60 + sm, eh * 60 + em
    if start >= end:
        raise WindowError(f"calling hours {text!r} end before they start (no window crosses midnight)")
    return start, end


def format_minutes(minutes: int) -> str:
    """Minutes after midnight as HH:MM."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _normalise_day(intervals: Iterable[Interval]) -> DayHours:
    """Sort and merge overlapping or touching intervals so that equal windows compare equal."""
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if not 0 <= start < end <= MINUTES_PER_DAY:
            raise WindowError(f"interval {start}-{end} is outside one day")
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((s, e) for s, e in merged)


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """Allowed local hours for each day of the week (Monday first); an empty day is closed."""

    days: tuple[DayHours, ...]

    def __post_init__(self) -> None:
        if len(self.days) != 7:
            raise WindowError("a weekly window needs exactly 7 days")
        for day in self.days:
            if _normalise_day(day) != day:
                raise WindowError("intervals must be sorted, disjoint and within the day")

    @classmethod
    def from_ranges(cls, ranges: Mapping[str, Sequence[str]]) -> WeeklyWindow:
        """Build from {"mon": ["09:00-12:00", "14:00-20:00"], ...}; missing days are closed."""
        unknown = set(ranges) - set(WEEKDAYS)
        if unknown:
            raise WindowError(f"unknown weekday(s): {', '.join(sorted(unknown))}")
        return cls(tuple(_normalise_day(parse_range(r) for r in ranges.get(day, ())) for day in WEEKDAYS))

    @classmethod
    def uniform(cls, text: str, days: str = "mon-sun") -> WeeklyWindow:
        """The same hours ("HH:MM-HH:MM") on a run of days such as "mon-fri"."""
        first, _, last = days.partition("-")
        lo, hi = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        interval = parse_range(text)
        return cls(tuple((interval,) if lo <= i <= hi else () for i in range(7)))

    def union(self, other: WeeklyWindow) -> WeeklyWindow:
        """Hours open in either window (used to compose presets day by day)."""
        return WeeklyWindow(
            tuple(_normalise_day((*a, *b)) for a, b in zip(self.days, other.days, strict=True))
        )

    def intersect(self, other: WeeklyWindow) -> WeeklyWindow:
        """Hours open in both windows."""
        days = []
        for mine, theirs in zip(self.days, other.days, strict=True):
            both = [
                (max(s1, s2), min(e1, e2))
                for s1, e1 in mine
                for s2, e2 in theirs
                if max(s1, s2) < min(e1, e2)
            ]
            days.append(_normalise_day(both))
        return WeeklyWindow(tuple(days))

    def covers(self, other: WeeklyWindow) -> bool:
        """True if every hour open in `other` is also open here."""
        return self.intersect(other) == other

    def is_open(self, weekday: int, second_of_day: float) -> bool:
        """True if the local time `second_of_day` on `weekday` (0 = Monday) is inside the window."""
        return any(s * 60 <= second_of_day < e * 60 for s, e in self.days[weekday])

    @property
    def is_empty(self) -> bool:
        """True if the window never opens."""
        return not any(self.days)

    def describe_day(self, weekday: int) -> str:
        """The hours of one day, e.g. "Sat 09:00–17:00" or "Sun closed"."""
        name = WEEKDAYS[weekday].capitalize()
        hours = ", ".join(f"{format_minutes(s)}–{format_minutes(e)}" for s, e in self.days[weekday])
        return f"{name} {hours or 'closed'}"

    def describe(self) -> str:
        """The whole week, runs of equal days folded: "Mon–Fri 09:00–20:00; Sat 09:00–17:00"."""
        parts: list[str] = []
        i = 0
        while i < 7:
            j = i
            while j + 1 < 7 and self.days[j + 1] == self.days[i]:
                j += 1
            if self.days[i]:
                hours = ", ".join(f"{format_minutes(s)}–{format_minutes(e)}" for s, e in self.days[i])
                span = WEEKDAYS[i].capitalize() + (f"–{WEEKDAYS[j].capitalize()}" if j > i else "")
                parts.append(f"{span} {hours}")
            i = j + 1
        return "; ".join(parts) or "never open"

    def to_ranges(self) -> dict[str, tuple[str, ...]]:
        """The inverse of `from_ranges`."""
        return {
            day: tuple(f"{format_minutes(s)}-{format_minutes(e)}" for s, e in hours)
            for day, hours in zip(WEEKDAYS, self.days, strict=True)
        }
