"""Is a calling window open at an instant in every zone of a number, and when does it next open.

Open means: in each zone, the local date is not a public holiday (when holidays are skipped) and
the local wall-clock time is inside that weekday's hours. Checking an instant is exact (zoneinfo
gives each instant one wall time, DST included). The search for the next opening walks candidate
instants (each interval's start under both DST folds, plus each UTC-offset change) in time order,
so a start that falls in a spring-forward gap opens at the end of the gap, and a fall-back
overlap is seen twice, as it is lived.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    import holidays as holidays_lib

from dialer.compliance.windows import WeeklyWindow

# Holiday subdivisions are used only where a time zone lies wholly inside one subdivision, so a
# number that phonenumbers maps to that zone is certainly there. Zones shared by several states
# (America/Los_Angeles: CA, WA, OR, NV; Australia/Sydney: NSW, ACT, VIC, TAS; Australia/Adelaide,
# which phonenumbers also gives Darwin numbers) get the country-wide holidays only.
ZONE_SUBDIVISIONS: dict[tuple[str, str], str] = {
    ("US", "Pacific/Honolulu"): "HI",
    ("US", "America/Phoenix"): "AZ",
    ("US", "America/Adak"): "AK",
    ("US", "America/Anchorage"): "AK",
    ("US", "America/Juneau"): "AK",
    ("US", "America/Metlakatla"): "AK",
    ("US", "America/Nome"): "AK",
    ("US", "America/Sitka"): "AK",
    ("US", "America/Yakutat"): "AK",
    ("CA", "America/Regina"): "SK",
    ("CA", "America/St_Johns"): "NL",
}

# More than any UTC-offset change (at most 2 h): local day d's instants all lie after
# midnight(d) - margin, which lets the search emit candidates in order one day at a time.
_MARGIN_S = 3 * 3600


class UnknownZoneError(ValueError):
    """A time zone name that the system's zone database does not know."""


@cache
def holiday_calendar(country: str, subdiv: str | None = None) -> holidays_lib.HolidayBase | None:
    """The public holidays of a country (and subdivision), or None if `holidays` has none."""
    # Imported here: the library takes ~30 ms to load, and commands that only read the config
    # (`dialer status`) never ask for a calendar.
    import holidays as holidays_lib

    try:
        return holidays_lib.country_holidays(country, subdiv=subdiv)
    except NotImplementedError:
        return None


@dataclass(frozen=True, slots=True)
class ZoneCalendar:
    """One zone a number may be in, with the holidays observed there (None = not skipped)."""

    name: str
    zone: ZoneInfo
    holidays: holidays_lib.HolidayBase | None

    def holiday(self, day: date) -> str | None:
        """The holiday's name if `day` (local) is a public holiday here."""
        if self.holidays is None:
            return None
        return self.holidays.get(day)


def zone_calendars(zones: Sequence[str], region: str, *, skip_holidays: bool) -> tuple[ZoneCalendar, ...]:
    """A calendar per zone; holidays from the number's country (and a subdivision where certain)."""
    calendars = []
    for name in zones:
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise UnknownZoneError(f"unknown time zone {name!r}") from exc
        days = None
        if skip_holidays:
            subdiv = ZONE_SUBDIVISIONS.get((region, name))
            days = holiday_calendar(region, subdiv)
        calendars.append(ZoneCalendar(name, zone, days))
    return tuple(calendars)


@dataclass(frozen=True, slots=True)
class Closure:
    """Why the window is closed in one zone at one instant."""

    zone: str
    local: datetime
    holiday: str | None  # set when the local date is a public holiday

    @property
    def kind(self) -> str:
        """ "holiday" or "hours"."""
        return "holiday" if self.holiday is not None else "hours"


def closure(calendar: ZoneCalendar, window: WeeklyWindow, ts: float) -> Closure | None:
    """None if the window is open in this zone at `ts` (unix s), else why it is closed."""
    local = datetime.fromtimestamp(ts, calendar.zone)
    name = calendar.holiday(local.date())
    if name is not None:
        return Closure(calendar.name, local, name)
    second = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    if window.is_open(local.weekday(), second):
        return None
    return Closure(calendar.name, local, None)


def closures(calendars: Sequence[ZoneCalendar], window: WeeklyWindow, ts: float) -> list[Closure]:
    """Every zone in which the window is closed at `ts`; empty means open in all of them."""
    return [c for c in (closure(cal, window, ts) for cal in calendars) if c is not None]


def next_open(
    calendars: Sequence[ZoneCalendar], window: WeeklyWindow, ts: float, horizon_s: float
) -> float | None:
    """The first instant >= `ts` at which the window is open in every zone, or None within the horizon."""
    if not calendars:
        return None
    end = ts + horizon_s
    current = ts
    # Each zone's next opening is a lower bound for the joint one; move to the latest of them
    # until all zones agree. Every step advances to some zone's opening, so this terminates.
    while current <= end:
        latest = current
        for calendar in calendars:
            opening = _zone_next_open(calendar, window, current, end)
            if opening is None:
                return None
            latest = max(latest, opening)
        if latest == current:
            return current
        current = latest
    return None


def _zone_next_open(calendar: ZoneCalendar, window: WeeklyWindow, ts: float, end: float) -> float | None:
    """The first instant >= `ts` at which the window is open in this one zone (None past `end`)."""
    if closure(calendar, window, ts) is None:
        return ts
    zone = calendar.zone
    day = datetime.fromtimestamp(ts, zone).date() - timedelta(days=1)
    pending: list[float] = []
    while True:
        pending.extend(c for c in _day_candidates(calendar, window, day) if c > ts)
        # No candidate of a later local day can come before this bound.
        bound = _midnight(zone, day + timedelta(days=1)) - _MARGIN_S
        pending.sort()
        done = 0
        for candidate in pending:
            if candidate >= bound:
                break
            done += 1
            if closure(calendar, window, candidate) is None:
                return candidate
        del pending[:done]
        if bound > end:
            return None
        day += timedelta(days=1)


def _midnight(zone: ZoneInfo, day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


def _day_candidates(calendar: ZoneCalendar, window: WeeklyWindow, day: date) -> list[float]:
    """Instants at which the window may open on local `day`: interval starts and offset changes."""
    zone = calendar.zone
    out: list[float] = []
    if window.days[day.weekday()] and calendar.holiday(day) is None:
        for start, _end in window.days[day.weekday()]:
            hour, minute = divmod(start, 60)
            for fold in (0, 1):
                local = datetime(day.year, day.month, day.day, hour, minute, fold=fold, tzinfo=zone)
                out.append(local.timestamp())
    lo, hi = int(_midnight(zone, day)), int(_midnight(zone, day + timedelta(days=1)))
    if _offset(zone, lo) != _offset(zone, hi):
        out.append(float(_transition(zone, lo, hi)))
    return out


def _offset(zone: ZoneInfo, ts: int) -> timedelta | None:
    return datetime.fromtimestamp(ts, zone).utcoffset()


def _transition(zone: ZoneInfo, lo: int, hi: int) -> int:
    """The first second in (lo, hi] with hi's UTC offset (binary search; one change per day)."""
    before = _offset(zone, lo)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset(zone, mid) == before:
            lo = mid
        else:
            hi = mid
    return hi


def utc_iso(ts: float) -> str:
    """A unix time as ISO-8601 UTC to the second, for details."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
