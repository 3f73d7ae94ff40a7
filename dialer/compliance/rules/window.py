"""Calling-window rules: public holidays and local hours, in every time zone the number may be in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import phonenumbers
from phonenumbers import timezone as pn_timezone

from dialer.compliance.model import GateRequest, RuleResult, Verdict
from dialer.compliance.opening import (
    Closure,
    UnknownZoneError,
    ZoneCalendar,
    closures,
    next_open,
    utc_iso,
    zone_calendars,
)
from dialer.compliance.policy import DAY_S, CompliancePolicy
from dialer.compliance.preset_catalog import Applied, PresetCatalog, builtin_catalog, preset_for
from dialer.compliance.preset_model import WindowRule
from dialer.compliance.windows import WeeklyWindow, format_minutes
from dialer.numbers import PhoneNumber

HOURS = "window.hours"
HOLIDAY = "window.holiday"


def effective_window(
    region: str, policy: CompliancePolicy, catalog: PresetCatalog | None = None
) -> tuple[WeeklyWindow, str]:
    """The hours that apply to a number of `region` under `policy` (before named presets), and a name."""
    preset = preset_for(region, catalog)
    hours = policy.calling_hours
    if hours is None:
        return preset.window, f"{region} preset"
    if policy.override_country_hours:
        return hours.window, f"campaign hours overriding the {region} preset"
    return preset.window.intersect(hours.window), f"campaign hours within the {region} preset"


@lru_cache(maxsize=4096)
def number_zones(number: PhoneNumber) -> tuple[str, ...]:
    """The number's zones, else its country's zones as phonenumbers gives them, else ()."""
    if number.zones:
        return number.zones
    try:
        parsed = phonenumbers.parse(number.e164, None)
    except phonenumbers.NumberParseException:
        return ()
    zones = tuple(pn_timezone._country_level_time_zones_for_number(parsed))
    return () if zones == (pn_timezone.UNKNOWN_TIMEZONE,) else zones


@dataclass(frozen=True, slots=True)
class _Assessment:
    """The window's state for one number at one instant."""

    calendars: tuple[ZoneCalendar, ...]
    window: WeeklyWindow
    label: str
    closed: tuple[Closure, ...]
    problem: str | None = None  # set when the window cannot be checked at all
    named: tuple[Applied[WindowRule], ...] = ()  # the named presets' windows inside `window`


def _assess(request: GateRequest, number: PhoneNumber, ts: float, catalog: PresetCatalog) -> _Assessment:
    policy = request.policy
    window, label = effective_window(number.region, policy, catalog)
    named = catalog.applicable(policy.presets, number, WindowRule) if policy.presets else ()
    if named:  # the strictest wins: every window that applies narrows the hours
        window = _narrowed(window, tuple(applied.rule.hours.window for applied in named))
    zones = number_zones(number)
    if not zones:
        problem = f"no time zone known for this {number.region} number: cannot check the calling window"
        return _Assessment((), window, label, (), problem, named)
    try:
        calendars = _calendars(zones, number.region, policy.skip_holidays)
    except UnknownZoneError as exc:
        return _Assessment((), window, label, (), f"{exc}: cannot check the calling window", named)
    return _Assessment(calendars, window, label, tuple(closures(calendars, window, ts)), None, named)


@lru_cache(maxsize=1024)
def _narrowed(window: WeeklyWindow, others: tuple[WeeklyWindow, ...]) -> WeeklyWindow:
    for other in others:
        window = window.intersect(other)
    return window


@lru_cache(maxsize=4096)
def _calendars(zones: tuple[str, ...], region: str, skip_holidays: bool) -> tuple[ZoneCalendar, ...]:
    return zone_calendars(zones, region, skip_holidays=skip_holidays)


def _retry(assessment: _Assessment, policy: CompliancePolicy, ts: float) -> tuple[float | None, str]:
    horizon_s = policy.window_search_days * DAY_S
    opening = next_open(assessment.calendars, assessment.window, ts, horizon_s)
    if opening is None:
        # Not permanent (holidays and hours change with the calendar): look again at the horizon.
        return ts + horizon_s, f"no opening in all zones within {policy.window_search_days} days"
    return opening, f"next open {utc_iso(opening)}"


def _zones_note(assessment: _Assessment) -> str:
    count = len(assessment.calendars)
    return "" if count == 1 else f" (one of {count} zones the number may be in)"


def _closing_preset(assessment: _Assessment, local: datetime) -> Applied[WindowRule] | None:
    """The named preset rule that is closed at `local` (the one the explanation cites), if any."""
    second = local.hour * 3600 + local.minute * 60 + local.second
    for applied in assessment.named:
        if not applied.rule.hours.window.is_open(local.weekday(), second):
            return applied
    return None


def _day_hours(window: WeeklyWindow, weekday: int) -> str:
    hours = ", ".join(f"{format_minutes(s)}–{format_minutes(e)}" for s, e in window.days[weekday])
    return hours or "closed all day"


class HolidayRule:
    """Blocks calls on a public holiday in any of the number's zones (when the policy skips holidays)."""

    id = HOLIDAY

    def __init__(self, catalog: PresetCatalog | None = None) -> None:
        self._catalog = catalog or builtin_catalog()

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Block if the local date in any zone is a public holiday of the number's country."""
        if not request.policy.skip_holidays:
            return RuleResult(self.id, Verdict.ALLOW, "holidays are not skipped by this policy")
        ts = now.timestamp()
        assessment = _assess(request, number, ts, self._catalog)
        if assessment.problem is not None:
            return RuleResult(self.id, Verdict.BLOCK, assessment.problem)
        holiday = next((c for c in assessment.closed if c.holiday is not None), None)
        if holiday is None:
            return RuleResult(self.id, Verdict.ALLOW, f"not a public holiday in {number.region}")
        retry_at, when = _retry(assessment, request.policy, ts)
        detail = (
            f"public holiday in {number.region}: {holiday.holiday} (local date {holiday.local:%Y-%m-%d} "
            f"in {holiday.zone}{_zones_note(assessment)}); {when}"
        )
        return RuleResult(self.id, Verdict.BLOCK, detail, retry_at=retry_at)


class HoursRule:
    """Blocks calls outside the allowed local hours in any of the number's zones.

    The hours are the country preset's (or the campaign's), narrowed by every window of the named
    presets that covers the number (a US state's by area code); a block cites the preset's source.
    """

    id = HOURS

    def __init__(self, catalog: PresetCatalog | None = None) -> None:
        self._catalog = catalog or builtin_catalog()

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Block unless the local time in EVERY zone is inside the window; retry at its next opening."""
        ts = now.timestamp()
        assessment = _assess(request, number, ts, self._catalog)
        if assessment.problem is not None:
            return RuleResult(self.id, Verdict.BLOCK, assessment.problem)
        outside = next((c for c in assessment.closed if c.holiday is None), None)
        if outside is None:
            if assessment.closed:  # closed only by a holiday: that is window.holiday's to say
                return RuleResult(self.id, Verdict.ALLOW, "inside the calling hours (but see window.holiday)")
            return RuleResult(
                self.id,
                Verdict.ALLOW,
                f"inside the calling hours in all {len(assessment.calendars)} zone(s) ({assessment.label})",
            )
        retry_at, when = _retry(assessment, request.policy, ts)
        local = outside.local
        cited = _closing_preset(assessment, local)
        if cited is not None:
            detail = (
                f"outside {_day_hours(cited.rule.hours.window, local.weekday())} in {cited.place} ({cited.cite}), "
                f"preset {cited.preset.name}: local {local:%a %H:%M} in {outside.zone}{_zones_note(assessment)}; "
                f"{when}"
            )
            return RuleResult(self.id, Verdict.BLOCK, detail, retry_at=retry_at)
        detail = (
            f"outside calling hours in {outside.zone}{_zones_note(assessment)}: local {local:%a %H:%M}, "
            f"allowed {assessment.window.describe_day(local.weekday())} ({assessment.label}); {when}"
        )
        return RuleResult(self.id, Verdict.BLOCK, detail, retry_at=retry_at)
