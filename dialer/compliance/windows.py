"""Calling windows: allowed local hours per day of week, and the per-country presets.

A window is what the law (or the campaign) allows in the callee's local time. The presets encode
each country's rule, or a conservative choice where the law sets no hours; a campaign can only
narrow them unless it sets `override_country_hours` explicitly (see `policy.py`).
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


@dataclass(frozen=True, slots=True)
class CountryPreset:
    """A country's calling window and where it comes from."""

    window: WeeklyWindow
    source: str


def _w(*runs: tuple[str, str]) -> WeeklyWindow:
    """Compose a window from (days, hours) runs such as ("mon-fri", "09:00-20:00")."""
    window = WeeklyWindow(((),) * 7)
    for days, hours in runs:
        window = window.union(WeeklyWindow.uniform(hours, days))
    return window


# Where a country's law sets calling hours, the preset is that law; where it sets none, the preset
# is a conservative choice (weekday business hours, short or no weekends) and says so. All times
# are the callee's local time. Holidays are handled separately (`skip_holidays`).
PRESETS: dict[str, CountryPreset] = {
    "US": CountryPreset(
        _w(("mon-sun", "08:00-21:00")),
        "TCPA 47 CFR 64.1200(c)(1) and TSR 16 CFR 310.4(c)(1): no calls before 8 a.m. or after 9 p.m. local",
    ),
    "CA": CountryPreset(
        _w(("mon-fri", "09:00-21:30"), ("sat-sun", "10:00-18:00")),
        "CRTC Unsolicited Telecommunications Rules (telemarketing): weekdays 9:00-21:30, "
        "weekends 10:00-18:00",
    ),
    "GB": CountryPreset(
        _w(("mon-fri", "09:00-20:00"), ("sat", "09:00-17:00")),
        "no statutory hours (PECR and Ofcom's persistent-misuse policy regulate consent and abandoned "
        "calls, not hours): conservative weekday/Saturday hours, no Sundays",
    ),
    "DE": CountryPreset(
        _w(("mon-fri", "09:00-20:00"), ("sat", "09:00-18:00")),
        "no statutory hours (UWG s. 7 requires prior consent for consumer calls): conservative hours, "
        "no Sundays (Sonn- und Feiertagsruhe)",
    ),
    "FR": CountryPreset(
        _w(("mon-fri", "10:00-13:00"), ("mon-fri", "14:00-20:00")),
        "Code de la consommation art. D223-9 (decret 2022-1313): Mon-Fri 10:00-13:00 and 14:00-20:00, "
        "never on weekends or public holidays",
    ),
    "IN": CountryPreset(
        _w(("mon-sun", "09:00-21:00")),
        "TRAI Telecom Commercial Communications Customer Preference Regulations: no commercial "
        "communication between 21:00 and 09:00",
    ),
    "AU": CountryPreset(
        _w(("mon-fri", "09:00-20:00"), ("sat", "09:00-17:00")),
        "Telecommunications (Telemarketing and Research Calls) Industry Standard 2017: weekdays "
        "9:00-20:00, Saturday 9:00-17:00, no Sunday or national public holiday calls",
    ),
    "BR": CountryPreset(
        _w(("mon-fri", "09:00-18:00")),
        "no federal hours; state laws differ (e.g. RJ Lei 7.853/2018 and CE Lei 16.836/2019: Mon-Fri "
        "08:00-18:00, no weekends or holidays): conservative intersection, Mon-Fri 09:00-18:00",
    ),
    "CN": CountryPreset(
        _w(("mon-fri", "09:00-18:00")),
        "no national statutory calling hours: conservative weekday business hours",
    ),
}

# US federal rules (TCPA/TSR) apply in the territories, which phonenumbers reports as own regions.
PRESET_ALIASES: dict[str, str] = {"PR": "US", "GU": "US", "VI": "US", "AS": "US", "MP": "US"}

DEFAULT_PRESET = CountryPreset(
    _w(("mon-sat", "09:00-20:00")),
    "no preset for this country: conservative default, Mon-Sat 09:00-20:00",
)


def preset_for(region: str) -> CountryPreset:
    """The calling-window preset for an ISO region code (conservative default when unknown)."""
    region = region.upper()
    return PRESETS.get(PRESET_ALIASES.get(region, region), DEFAULT_PRESET)
