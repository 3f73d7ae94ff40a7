"""What `dialer status` shows, read by queries of its own (`dialer.store.status`): campaigns and
their states, live calls and leads per status per campaign, and the number of calls made.

The full report (`campaign_report`) reads every attempt several times (18.5 s at 1 M attempts);
status needs none of that. Each figure comes from an index: live attempts from the partial
index of attempts not ended, leads per status from `leads_due` (campaign, status, ...), and the
calls made as all attempts less the texts (a count over the smallest index, and the partial
index of texts) rather than a pass over the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from dialer.store import Database
from dialer.store.status import status_counts

WAITING = ("pending", "dialing", "disabled")  # lead statuses that are not "done" (dialer.retry.LeadStatus)


@dataclass(frozen=True, slots=True)
class CampaignStatus:
    """One campaign's line of `dialer status`."""

    name: str
    state: str
    live_calls: int  # call attempts without a final outcome, as committed
    leads: dict[str, int]  # leads per status

    @property
    def done(self) -> int:
        """Leads no longer waiting to be dialled (finished, exhausted, blocked, invalid)."""
        return sum(n for status, n in self.leads.items() if status not in WAITING)


@dataclass(frozen=True, slots=True)
class StatusFigures:
    """Everything `dialer status` shows from the database."""

    campaigns: list[CampaignStatus]
    live_calls: int  # over every campaign, those no longer in the campaigns table included
    calls: int  # call attempts ever made


async def status_figures(db: Database) -> StatusFigures:
    """Read the figures of `dialer status` in one read session."""
    async with db.read() as tx:
        counts = await status_counts(tx)
    return StatusFigures(
        campaigns=[CampaignStatus(name, state, counts.live.get(name, 0), counts.leads.get(name, {}))
                   for name, state in counts.states],
        live_calls=sum(counts.live.values()), calls=counts.attempts - counts.texts)
