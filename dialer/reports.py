"""Reports read from the store: per campaign and overall, as plain dicts for table/JSON/CSV output."""

from __future__ import annotations

from typing import Any

from dialer.outcome import LIVE_ANSWER, Disposition
from dialer.store import Database

ANSWERED = tuple(d.value for d in (*LIVE_ANSWER, Disposition.MACHINE))


async def campaign_report(db: Database, campaign: str | None = None, *, since: float | None = None,
                          until: float | None = None) -> dict[str, Any]:
    """Counts for one campaign (or all): calls, dispositions, open attempts, leads by status, rates."""
    where = ["1 = 1"]
    params: list[Any] = []
    if campaign is not None:
        where.append("campaign_id = ?")
        params.append(campaign)
    if since is not None:
        where.append("created_at >= ?")
        params.append(since)
    if until is not None:
        where.append("created_at < ?")
        params.append(until)
    clause = " AND ".join(where)
    lead_clause = "campaign_id = ?" if campaign is not None else "1 = 1"
    lead_params = [campaign] if campaign is not None else []
    async with db.read() as tx:
        attempts = await tx.fetchone(
            f"SELECT COUNT(*) AS calls, SUM(CASE WHEN state <> 'ended' THEN 1 ELSE 0 END) AS open, "
            f"COUNT(DISTINCT number) AS numbers, SUM(talk_s) AS talk, "
            f"SUM(CASE WHEN talk_s IS NOT NULL THEN 1 ELSE 0 END) AS talked FROM attempts WHERE {clause}",
            params,
        )
        dispositions = await tx.fetchall(
            f"SELECT disposition, COUNT(*) AS n FROM attempts WHERE {clause} AND state = 'ended' "
            "GROUP BY disposition ORDER BY n DESC",
            params,
        )
        leads = await tx.fetchall(
            f"SELECT status, COUNT(*) AS n FROM leads WHERE {lead_clause} GROUP BY status ORDER BY status",
            lead_params,
        )
        campaigns = await tx.fetchall(
            f"SELECT id, state FROM campaigns WHERE {'id = ?' if campaign is not None else '1 = 1'} ORDER BY id",
            lead_params,
        )
    assert attempts is not None
    by_disposition = {row["disposition"]: row["n"] for row in dispositions}
    ended = sum(by_disposition.values())
    answered = sum(n for d, n in by_disposition.items() if d in ANSWERED)
    live_answered = sum(n for d, n in by_disposition.items() if d in {x.value for x in LIVE_ANSWER})
    abandoned = by_disposition.get(Disposition.ABANDONED.value, 0)
    talked = attempts["talked"] or 0
    return {
        "campaign": campaign,
        "campaigns": {row["id"]: row["state"] for row in campaigns},
        "calls": attempts["calls"] or 0,
        "ended": ended,
        "open_attempts": attempts["open"] or 0,
        "unique_numbers": attempts["numbers"] or 0,
        "by_disposition": by_disposition,
        "leads_by_status": {row["status"]: row["n"] for row in leads},
        "answer_rate": round(answered / ended, 4) if ended else None,
        "abandon_rate": round(abandoned / live_answered, 4) if live_answered else None,
        "avg_talk_s": round((attempts["talk"] or 0.0) / talked, 2) if talked else None,
        "talk_s_total": round(attempts["talk"] or 0.0, 2),
    }
