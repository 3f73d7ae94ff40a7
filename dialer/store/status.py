"""The counts `dialer status` shows, each read from an index (`dialer.reports.status` puts them together)."""

from __future__ import annotations

from dataclasses import dataclass

from dialer.store.db import Tx


@dataclass(frozen=True, slots=True)
class StatusCounts:
    """Raw counts: campaigns with their states, live call attempts and leads per status per campaign,
    and the attempts and texts ever made."""

    states: list[tuple[str, str]]
    live: dict[str, int]
    leads: dict[str, dict[str, int]]
    attempts: int
    texts: int


async def status_counts(tx: Tx) -> StatusCounts:
    """Read the counts in the session `tx`."""
    states = [(str(r[0]), str(r[1])) for r in await tx.fetchall("SELECT id, state FROM campaigns ORDER BY id")]
    # Named, because for the GROUP BY the planner prefers walking (campaign_id, created_at) over
    # every attempt (2 s at 1 M); the partial index holds only the live ones.
    live = {str(r[0]): int(r[1]) for r in await tx.fetchall(
        "SELECT campaign_id, COUNT(*) FROM attempts INDEXED BY attempts_live WHERE state <> 'ended' "
        "AND medium = 'call' GROUP BY campaign_id")}
    leads: dict[str, dict[str, int]] = {}
    for campaign, status, count in await tx.fetchall(
            "SELECT campaign_id, status, COUNT(*) FROM leads GROUP BY campaign_id, status"):
        leads.setdefault(str(campaign), {})[str(status)] = int(count)
    # All attempts over the smallest index, less the texts over their partial index: no table pass.
    total = await tx.fetchone("SELECT COUNT(*) FROM attempts")
    texts = await tx.fetchone("SELECT COUNT(*) FROM attempts WHERE medium = 'sms'")
    return StatusCounts(states, live, leads, int(total[0]) if total else 0, int(texts[0]) if texts else 0)
