"""What `dialer status` shows, read by queries of its own: campaigns and their states, live calls and
leads per status per campaign, and the number of calls made.

The full report (`campaign_report`) reads every attempt several times (18.5 s at 1 M attempts);
status needs none of that. Each figure here comes from an index: live attempts from the partial
index of attempts not ended, leads per status from `leads_due` (campaign, status, ...), and the
calls made as all attempts less the texts (a count over the smallest index, and the partial
index of texts) rather than a pass over the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from dialer.store import Database

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
    """Read the figures of `dialer status` in one read transaction."""
    async with db.read() as tx:
        states = [(r[0], r[1]) for r in await tx.fetchall("SELECT id, state FROM campaigns ORDER BY id")]
        # Named, because for the GROUP BY the planner prefers walking (campaign_id, created_at) over
        # every attempt (2 s at 1 M); the partial index holds only the live ones.
        live = {r[0]: int(r[1]) for r in await tx.fetchall(
            "SELECT campaign_id, COUNT(*) FROM attempts INDEXED BY attempts_live WHERE state <> 'ended' "
            "AND medium = 'call' GROUP BY campaign_id")}
        leads: dict[str, dict[str, int]] = {}
        for campaign, status, count in await tx.fetchall(
                "SELECT campaign_id, status, COUNT(*) FROM leads GROUP BY campaign_id, status"):
            leads.setdefault(campaign, {})[status] = int(count)
        total = await tx.fetchone("SELECT COUNT(*) FROM attempts")
        texts = await tx.fetchone("SELECT COUNT(*) FROM attempts WHERE medium = 'sms'")
    calls = (int(total[0]) if total else 0) - (int(texts[0]) if texts else 0)
    return StatusFigures(
        campaigns=[CampaignStatus(name, state, live.get(name, 0), leads.get(name, {})) for name, state in states],
        live_calls=sum(live.values()), calls=calls)
