"""Is a campaign's calling window open now in its callees' zones, and when does it open next.

The callees are the campaign's pending leads, grouped by (region, zones) in SQL so a campaign of a
million leads is a few dozen groups. The window and the zone calendars are the gate's own
(`effective_window`, `zone_calendars`, `next_open`), so the page says what the gate will do.
"""

from __future__ import annotations

from dataclasses import dataclass

from dialer.compliance.opening import UnknownZoneError, closures, next_open, zone_calendars
from dialer.compliance.policy import DAY_S, CompliancePolicy
from dialer.compliance.rules.window import effective_window
from dialer.store import Tx
from dialer.store.reports import pending_zone_groups

MAX_GROUPS = 200  # zone groups looked at per campaign (more would be a list from everywhere)


@dataclass(frozen=True, slots=True)
class WindowState:
    """The window of one campaign: open in how many of its callees' zone groups, and the next opening."""

    groups: int  # distinct (region, zones) among the pending leads
    open_groups: int
    next_open_at: float | None  # when the first closed group opens (None: none closed, or none within the search)

    @property
    def open(self) -> bool | None:
        """True if open for some callees, False if closed for all, None if no lead is pending."""
        return None if self.groups == 0 else self.open_groups > 0

    def as_json(self) -> dict[str, object]:
        """The page's form."""
        return {"open": self.open, "groups": self.groups, "open_groups": self.open_groups,
                "next_open_at": self.next_open_at}


async def zone_groups(tx: Tx, campaign: str) -> list[tuple[str, tuple[str, ...]]]:
    """(region, zones) of the campaign's pending leads, most leads first."""
    return await pending_zone_groups(tx, campaign, MAX_GROUPS)


def window_state(groups: list[tuple[str, tuple[str, ...]]], policy: CompliancePolicy, now: float) -> WindowState:
    """Where the window is open at `now` for these zone groups, and the earliest next opening."""
    open_groups = 0
    openings: list[float] = []
    horizon_s = policy.window_search_days * DAY_S
    for region, zones in groups:
        window, _label = effective_window(region, policy)
        try:
            calendars = zone_calendars(zones, region, skip_holidays=policy.skip_holidays)
        except UnknownZoneError:
            continue  # the gate blocks these leads; they never open
        if not calendars:
            continue
        if not closures(calendars, window, now):
            open_groups += 1
            continue
        opening = next_open(calendars, window, now, horizon_s)
        if opening is not None:
            openings.append(opening)
    return WindowState(len(groups), open_groups, min(openings) if openings else None)
