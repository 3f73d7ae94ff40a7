"""Report figures, read from the store for one campaign or all, over a time range.

Every figure is a count over the attempts table (and the audit, leads, recordings and SMS tables)
that a person can redo in SQL: attempts are counted by creation time in [since, until); calls and
text messages apart (`medium`). Definitions:
- answer rate: answered calls (a person, a machine, an abandoned or opted-out answer) / ended calls;
- numbers reached: distinct numbers where a person answered (answered, abandoned, opted out);
- abandon rate over 24 h and 30 days: exactly what the gate holds a campaign to (calls that ended
  in the 24 h / 30 days before `until`, or now), abandoned / live-answered;
- answer rate by local hour: each call counted in the hour it started at the callee's (the number's
  first time zone, UTC when it has none), the best hours being the highest rates among hours
  with enough calls;
- gate blocks: the gate's block decisions (and campaign holds) by rule, made in the range.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dialer.outcome import LIVE_ANSWER, Disposition
from dialer.store import Database, Tx
from dialer.store import compliance as compliance_store

ANSWERED = tuple(sorted(d.value for d in (*LIVE_ANSWER, Disposition.MACHINE)))
LIVE = tuple(sorted(d.value for d in LIVE_ANSWER))
BEST_HOURS_MIN_CALLS = 5  # an hour with fewer calls is not called "best" on luck alone
QUARTER_S = 900  # every time zone's offset is a whole number of quarter hours


@dataclass(frozen=True, slots=True)
class Scope:
    """Which attempts a figure counts: a campaign (or all) and [since, until)."""

    campaign: str | None
    since: float | None
    until: float | None

    def where(self, prefix: str = "", time_column: str = "created_at") -> tuple[str, list[Any]]:
        """A WHERE clause (without the keyword) and its parameters."""
        parts = ["1 = 1"]
        params: list[Any] = []
        if self.campaign is not None:
            parts.append(f"{prefix}campaign_id = ?")
            params.append(self.campaign)
        if self.since is not None:
            parts.append(f"{prefix}{time_column} >= ?")
            params.append(self.since)
        if self.until is not None:
            parts.append(f"{prefix}{time_column} < ?")
            params.append(self.until)
        return " AND ".join(parts), params


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def campaign_report(db: Database, campaign: str | None = None, *, since: float | None = None,
                          until: float | None = None, now: float | None = None) -> dict[str, Any]:
    """The report for one campaign (or all): its figures, and the same figures per campaign."""
    now = now if now is not None else datetime.now(UTC).timestamp()
    async with db.read() as tx:
        campaigns = {r[0]: r[1] for r in await tx.fetchall(
            "SELECT id, state FROM campaigns WHERE id = ? ORDER BY id" if campaign is not None
            else "SELECT id, state FROM campaigns ORDER BY id", (campaign,) if campaign is not None else ())}
        report = await _figures(tx, Scope(campaign, since, until), now, list(campaigns))
        report = {"campaign": campaign, "since": _iso(since), "until": _iso(until), "generated_at": _iso(now),
                  "campaigns": campaigns, **report}
        report["by_campaign"] = {name: await _figures(tx, Scope(name, since, until), now, [name])
                                 for name in campaigns}
    return report


async def _figures(tx: Tx, scope: Scope, now: float, campaigns: list[str]) -> dict[str, Any]:
    where, params = scope.where()
    answered = ",".join("?" * len(ANSWERED))
    live = ",".join("?" * len(LIVE))
    row = await tx.fetchone(
        "SELECT COUNT(*) AS calls, "
        "SUM(CASE WHEN state <> 'ended' THEN 1 ELSE 0 END) AS open, "
        "SUM(CASE WHEN state = 'ended' THEN 1 ELSE 0 END) AS ended, "
        f"SUM(CASE WHEN disposition IN ({answered}) THEN 1 ELSE 0 END) AS answered, "
        f"SUM(CASE WHEN disposition IN ({live}) THEN 1 ELSE 0 END) AS live, "
        "SUM(CASE WHEN disposition = ? THEN 1 ELSE 0 END) AS abandoned, "
        "COUNT(DISTINCT number) AS numbers, "
        f"COUNT(DISTINCT CASE WHEN disposition IN ({live}) THEN number END) AS reached, "
        "SUM(talk_s) AS talk, SUM(CASE WHEN talk_s IS NOT NULL THEN 1 ELSE 0 END) AS talked "
        f"FROM attempts WHERE medium = 'call' AND {where}",
        (*ANSWERED, *LIVE, Disposition.ABANDONED.value, *LIVE, *params))
    assert row is not None
    dispositions = {r[0]: r[1] for r in await tx.fetchall(
        f"SELECT disposition, COUNT(*) AS n FROM attempts WHERE medium = 'call' AND state = 'ended' AND {where} "
        "GROUP BY disposition ORDER BY n DESC, disposition", params)}
    ended = int(row["ended"] or 0)
    talked = int(row["talked"] or 0)
    talk = float(row["talk"] or 0.0)
    figures: dict[str, Any] = {
        "calls": int(row["calls"] or 0),
        "ended": ended,
        "open_attempts": int(row["open"] or 0),
        "unique_numbers": int(row["numbers"] or 0),
        "numbers_reached": int(row["reached"] or 0),
        "by_disposition": dispositions,
        "answer_rate": _rate(int(row["answered"] or 0), ended),
        "abandon_rate": _rate(int(row["abandoned"] or 0), int(row["live"] or 0)),
        "avg_talk_s": round(talk / talked, 2) if talked else None,
        "talk_s_total": round(talk, 2),
    }
    figures.update(await _abandon_windows(tx, campaigns, scope.until if scope.until is not None else now))
    figures["leads_by_status"] = await _leads(tx, scope.campaign)
    figures["gate_blocks"] = await _gate_blocks(tx, scope)
    figures["attempts_per_lead"] = await _attempts_per_lead(tx, scope)
    figures["answer_by_local_hour"] = await _by_local_hour(tx, scope)
    figures["best_hours"] = best_hours(figures["answer_by_local_hour"])
    figures["recordings"] = await _recordings(tx, scope)
    figures["recordings_missing"] = figures["recordings"]["missing"]
    figures["sms"] = await _sms(tx, scope)
    return figures


async def _abandon_windows(tx: Tx, campaigns: list[str], at: float) -> dict[str, Any]:
    # The gate's own numbers (store.abandon_stats), summed when the report covers several campaigns.
    totals = [0, 0, 0, 0]
    for name in campaigns:
        stats = await compliance_store.abandon_stats(tx, name, at)
        for i, value in enumerate((stats.abandoned_24h, stats.live_24h, stats.abandoned_30d, stats.live_30d)):
            totals[i] += value
    return {
        "abandon_rate_24h": _rate(totals[0], totals[1]),
        "abandon_rate_30d": _rate(totals[2], totals[3]),
        "abandon_counts": {"abandoned_24h": totals[0], "live_24h": totals[1], "abandoned_30d": totals[2],
                           "live_30d": totals[3]},
    }


async def _leads(tx: Tx, campaign: str | None) -> dict[str, int]:
    if campaign is None:
        rows = await tx.fetchall("SELECT status, COUNT(*) FROM leads GROUP BY status ORDER BY status")
    else:
        rows = await tx.fetchall("SELECT status, COUNT(*) FROM leads WHERE campaign_id = ? GROUP BY status "
                                 "ORDER BY status", (campaign,))
    return {r[0]: r[1] for r in rows}


async def _gate_blocks(tx: Tx, scope: Scope) -> dict[str, int]:
    where, params = scope.where(time_column="at")
    rows = await tx.fetchall(
        f"SELECT rule, COUNT(*) AS n FROM audit WHERE kind IN ('gate', 'campaign_hold') AND verdict = 'block' "
        f"AND {where} GROUP BY rule ORDER BY n DESC, rule", params)
    return {r[0]: r[1] for r in rows}


async def _attempts_per_lead(tx: Tx, scope: Scope) -> dict[str, Any]:
    where, params = scope.where()
    rows = await tx.fetchall(
        f"SELECT n, COUNT(*) AS leads FROM (SELECT lead_id, COUNT(*) AS n FROM attempts WHERE medium = 'call' "
        f"AND {where} GROUP BY lead_id) per_lead GROUP BY n ORDER BY n", params)
    histogram = {int(r[0]): int(r[1]) for r in rows}
    leads = sum(histogram.values())
    attempts = sum(n * count for n, count in histogram.items())
    return {"leads": leads, "mean": round(attempts / leads, 2) if leads else None,
            "histogram": {str(n): count for n, count in histogram.items()}}


@lru_cache(maxsize=4096)
def _local_hour(zone: str, quarter: int) -> int:
    try:
        tz = ZoneInfo(zone) if zone else UTC
    except (ZoneInfoNotFoundError, ValueError):
        tz = UTC
    return datetime.fromtimestamp(quarter * QUARTER_S, tz).hour


async def _by_local_hour(tx: Tx, scope: Scope) -> list[dict[str, Any]]:
    where, params = scope.where("a.")
    answered = ",".join("?" * len(ANSWERED))
    # Grouped by the number's zones and the UTC quarter hour in SQL: a quarter hour falls in one local
    # hour in every zone, so the sums per local hour are exact and Python sees few rows.
    rows = await tx.fetchall(
        f"SELECT p.zones AS zones, CAST(a.created_at / {QUARTER_S} AS INTEGER) AS quarter, COUNT(*) AS calls, "
        f"SUM(CASE WHEN a.disposition IN ({answered}) THEN 1 ELSE 0 END) AS answered, "
        "SUM(CASE WHEN a.state = 'ended' THEN 1 ELSE 0 END) AS ended "
        "FROM attempts a LEFT JOIN phone_numbers p ON p.number = a.number "
        f"WHERE a.medium = 'call' AND {where} GROUP BY p.zones, quarter",
        (*ANSWERED, *params))
    calls: Counter[int] = Counter()
    hits: Counter[int] = Counter()
    ended: Counter[int] = Counter()
    for r in rows:
        zones = (r["zones"] or "").split()
        hour = _local_hour(zones[0] if zones else "", int(r["quarter"]))
        calls[hour] += int(r["calls"])
        hits[hour] += int(r["answered"] or 0)
        ended[hour] += int(r["ended"] or 0)
    return [{"hour": h, "calls": calls[h], "answered": hits[h], "answer_rate": _rate(hits[h], ended[h])}
            for h in range(24)]


def best_hours(by_hour: list[dict[str, Any]], count: int = 3) -> list[int]:
    """The local hours with the highest answer rate among those with enough calls (or any calls)."""
    with_calls = [h for h in by_hour if h["answer_rate"] is not None]
    enough = [h for h in with_calls if h["calls"] >= BEST_HOURS_MIN_CALLS] or with_calls
    ranked = sorted(enough, key=lambda h: (-h["answer_rate"], -h["calls"], h["hour"]))
    return [h["hour"] for h in ranked[:count]]


async def _recordings(tx: Tx, scope: Scope) -> dict[str, Any]:
    if await tx.fetchone("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'recordings'") is None:
        return {"available": False, "by_status": {}, "missing": None}
    where, params = scope.where()
    rows = await tx.fetchall(f"SELECT status, COUNT(*) FROM recordings WHERE {where} GROUP BY status ORDER BY status",
                             params)
    by_status = {r[0]: r[1] for r in rows}
    return {"available": True, "by_status": by_status,
            "missing": by_status.get("missing", 0) + by_status.get("broken", 0)}


async def _sms(tx: Tx, scope: Scope) -> dict[str, Any]:
    where, params = scope.where()
    outcomes = {r[0] or "pending": r[1] for r in await tx.fetchall(
        f"SELECT disposition, COUNT(*) FROM attempts WHERE medium = 'sms' AND {where} GROUP BY disposition",
        params)}
    failures = {r[0] or "": r[1] for r in await tx.fetchall(
        f"SELECT detail, COUNT(*) AS n FROM attempts WHERE medium = 'sms' AND disposition = 'failed' AND {where} "
        "GROUP BY detail ORDER BY n DESC, detail", params)}
    replies = await tx.fetchone(
        "SELECT COUNT(*), SUM(CASE WHEN keyword IS NOT NULL THEN 1 ELSE 0 END) FROM sms_messages "
        f"WHERE direction = 'in' AND {where}", params)
    sent = sum(outcomes.values())
    return {
        "sent": sent,
        "accepted": outcomes.get(Disposition.ACCEPTED.value, 0),
        "failed": outcomes.get(Disposition.FAILED.value, 0),
        "by_outcome": outcomes,
        "failures": failures,
        "acceptance_rate": _rate(outcomes.get(Disposition.ACCEPTED.value, 0), sent),
        "replies": int(replies[0] or 0) if replies else 0,
        "opt_outs": int(replies[1] or 0) if replies else 0,
    }


def round_up(value: float) -> float:
    """A chart axis maximum: the value rounded up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)
