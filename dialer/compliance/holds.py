"""Campaign holds: a campaign-wide block (abandon rate, stale registry, caller ID) stops the whole
campaign until its re-check time, instead of rescheduling its leads one by one. Pure code."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Hold:
    """A campaign stopped by `rule` until `until` (unix s)."""

    campaign: str
    rule: str
    detail: str
    since: float
    until: float


class CampaignHolds:
    """The holds in force, and the last one per campaign (so a repeated re-check does not re-alert)."""

    def __init__(self) -> None:
        self._holds: dict[str, Hold] = {}

    def hold(self, campaign: str, rule: str, detail: str, now: float, until: float) -> bool:
        """Hold `campaign` until `until`; True when this starts a hold (not a re-check of the same one)."""
        previous = self._holds.get(campaign)
        self._holds[campaign] = Hold(campaign, rule, detail, previous.since if previous else now, until)
        return previous is None or previous.rule != rule

    def active(self, campaign: str, now: float) -> Hold | None:
        """The hold stopping `campaign` at `now`, if any (an expired one is due for its re-check)."""
        hold = self._holds.get(campaign)
        return hold if hold is not None and now < hold.until else None

    def lift(self, campaign: str) -> Hold | None:
        """The campaign passed its re-check: forget its hold; returns it."""
        return self._holds.pop(campaign, None)

    def clear(self) -> None:
        """Forget every hold (config reloaded: the caller ID or the limits may have changed)."""
        self._holds.clear()

    def __iter__(self) -> Iterator[Hold]:
        """Every hold on record (in force or due for its re-check)."""
        return iter(list(self._holds.values()))
