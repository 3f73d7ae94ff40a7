"""Counts over the core tables: the live stats (`campaigns/<id>/stats`), the backup check, and the
campaign report's figures (each a grouped count that `dialer.reports.queries` adds up per campaign)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dialer.store.db import Row, Tx
from dialer.store.states import AttemptState, LeadStatus, Medium


async def leads_by_status(tx: Tx, campaign: str) -> dict[str, int]:
    """The campaign's leads counted by status."""
    rows = await tx.fetchall("SELECT status, COUNT(*) FROM leads WHERE campaign_id = ? GROUP BY status", (campaign,))
    return {str(row[0]): int(row[1]) for row in rows}


@dataclass(frozen=True, slots=True)
class EndedAttempts:
    """Attempts of a campaign that ended since some time: how many per disposition, and their talk time."""

    by_disposition: dict[str, int]
    talk_s_total: float


async def ended_since(tx: Tx, campaign: str, since: float) -> EndedAttempts:
    """The campaign's attempts that ended at or after `since`."""
    rows = await tx.fetchall(
        "SELECT disposition, COUNT(*), COALESCE(SUM(talk_s), 0) FROM attempts "
        "WHERE campaign_id = ? AND ended_at >= ? GROUP BY disposition", (campaign, since))
    return EndedAttempts({str(row[0]): int(row[1]) for row in rows}, sum(float(row[2]) for row in rows))


@dataclass(frozen=True, slots=True)
class RowCounts:
    """What a database file holds, for `dialer backup` and `restore` to show."""

    attempts: int
    open_attempts: int  # not ended: a backup taken while calls were live
    leads: int


def row_counts(conn: sqlite3.Connection) -> RowCounts:
    """Attempts (all and not ended) and leads in the database on `conn`."""
    attempts, open_attempts = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(state <> ?), 0) FROM attempts", (AttemptState.ENDED,)).fetchone()
    leads = conn.execute("SELECT COUNT(*) FROM leads").fetchone()[0]
    return RowCounts(int(attempts), int(open_attempts), int(leads))


# -- the campaign report (dialer.reports.queries adds the figures up) ------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """Which attempts a figure counts: a campaign (or all) and [since, until)."""

    campaign: str | None
    since: float | None
    until: float | None

    def attempts(self, alias: str = "") -> str:
        """How to read the attempts table: the whole of it in file order when nothing narrows it (an
        index walk would fetch every row at random), else by the (campaign, created_at) index."""
        table = f"attempts {alias}".strip()
        if self.campaign is None and self.since is None and self.until is None:
            return f"{table} NOT INDEXED"
        return table

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


def _marks(items: Sequence[object]) -> str:
    return ",".join("?" * len(items))


async def call_counts(tx: Tx, scope: Scope, answered: Sequence[str], live: Sequence[str], abandoned: str,
                      ) -> list[Row]:
    """Per campaign: calls, open, ended, answered, live, abandoned, numbers, reached, talk, talked."""
    where, params = scope.where()
    return await tx.fetchall(
        "SELECT campaign_id, COUNT(*) AS calls, "
        "SUM(CASE WHEN state <> 'ended' THEN 1 ELSE 0 END) AS open, "
        "SUM(CASE WHEN state = 'ended' THEN 1 ELSE 0 END) AS ended, "
        f"SUM(CASE WHEN disposition IN ({_marks(answered)}) THEN 1 ELSE 0 END) AS answered, "
        f"SUM(CASE WHEN disposition IN ({_marks(live)}) THEN 1 ELSE 0 END) AS live, "
        "SUM(CASE WHEN disposition = ? THEN 1 ELSE 0 END) AS abandoned, "
        "COUNT(DISTINCT number) AS numbers, "
        f"COUNT(DISTINCT CASE WHEN disposition IN ({_marks(live)}) THEN number END) AS reached, "
        "SUM(talk_s) AS talk, SUM(CASE WHEN talk_s IS NOT NULL THEN 1 ELSE 0 END) AS talked "
        f"FROM {scope.attempts()} WHERE medium = 'call' AND {where} GROUP BY campaign_id",
        (*answered, *live, abandoned, *live, *params))


async def distinct_numbers(tx: Tx, scope: Scope, live: Sequence[str]) -> tuple[int, int]:
    """Distinct numbers called, and of them those reached (a `live` disposition), over every campaign."""
    where, params = scope.where()
    row = await tx.fetchone(
        f"SELECT COUNT(DISTINCT number), COUNT(DISTINCT CASE WHEN disposition IN ({_marks(live)}) THEN number END) "
        f"FROM {scope.attempts()} WHERE medium = 'call' AND {where}", (*live, *params))
    return (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)


async def call_dispositions(tx: Tx, scope: Scope) -> list[Row]:
    """(campaign_id, disposition, count) of the ended calls."""
    where, params = scope.where()
    return await tx.fetchall(
        f"SELECT campaign_id, disposition, COUNT(*) FROM {scope.attempts()} WHERE medium = 'call' "
        f"AND state = 'ended' AND {where} GROUP BY campaign_id, disposition", params)


async def calls_per_lead(tx: Tx, scope: Scope) -> list[Row]:
    """(campaign_id, n, leads): how many leads had n calls."""
    where, params = scope.where()
    return await tx.fetchall(
        "SELECT campaign_id, n, COUNT(*) FROM (SELECT campaign_id, lead_id, COUNT(*) AS n "
        f"FROM {scope.attempts()} WHERE medium = 'call' AND {where} GROUP BY campaign_id, lead_id) per_lead "
        "GROUP BY campaign_id, n", params)


async def calls_by_quarter(tx: Tx, scope: Scope, answered: Sequence[str], quarter_s: int) -> list[Row]:
    """(campaign_id, zones, quarter, calls, answered, ended) per campaign, number zones and UTC quarter hour."""
    where, params = scope.where("a.")
    # Grouped by the number's zones and the UTC quarter hour in SQL: a quarter hour falls in one local
    # hour in every zone, so the sums per local hour are exact and Python sees few rows.
    return await tx.fetchall(
        f"SELECT a.campaign_id, p.zones, CAST(a.created_at / {int(quarter_s)} AS INTEGER) AS quarter, COUNT(*), "
        f"SUM(CASE WHEN a.disposition IN ({_marks(answered)}) THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN a.state = 'ended' THEN 1 ELSE 0 END) "
        f"FROM {scope.attempts('a')} LEFT JOIN phone_numbers p ON p.number = a.number "
        f"WHERE a.medium = 'call' AND {where} GROUP BY a.campaign_id, p.zones, quarter",
        (*answered, *params))


async def gate_blocks(tx: Tx, scope: Scope) -> list[Row]:
    """(campaign_id, rule, count) of the gate's blocks and campaign holds made in the range."""
    where, params = scope.where(time_column="at")
    return await tx.fetchall(
        "SELECT campaign_id, rule, COUNT(*) FROM audit WHERE kind IN ('gate', 'campaign_hold') "
        f"AND verdict = 'block' AND {where} GROUP BY campaign_id, rule", params)


async def text_dispositions(tx: Tx, scope: Scope) -> list[Row]:
    """(campaign_id, disposition or NULL while pending, count) of the text messages."""
    where, params = scope.where()
    return await tx.fetchall(
        f"SELECT campaign_id, disposition, COUNT(*) FROM attempts WHERE medium = 'sms' AND {where} "
        "GROUP BY campaign_id, disposition", params)


async def text_failures(tx: Tx, scope: Scope) -> list[Row]:
    """(campaign_id, detail, count) of the text messages that failed."""
    where, params = scope.where()
    return await tx.fetchall(
        "SELECT campaign_id, detail, COUNT(*) FROM attempts WHERE medium = 'sms' AND disposition = 'failed' "
        f"AND {where} GROUP BY campaign_id, detail", params)


async def lead_statuses(tx: Tx, campaign: str | None) -> list[Row]:
    """(campaign_id, status, count) of the leads of one campaign or all."""
    where = "WHERE campaign_id = ?" if campaign is not None else ""
    return await tx.fetchall(f"SELECT campaign_id, status, COUNT(*) FROM leads {where} GROUP BY campaign_id, "
                             "status", (campaign,) if campaign is not None else ())


async def originations_by_bucket(tx: Tx, campaign: str, start: float, bucket_s: float, buckets: int) -> list[int]:
    """Calls originated by `campaign` since `start`, counted per `bucket_s` bucket (the wallboard's sparkline)."""
    rows = await tx.fetchall(
        "SELECT CAST((created_at - ?) / ? AS INTEGER) AS bucket, COUNT(*) FROM attempts "
        "WHERE campaign_id = ? AND created_at >= ? AND medium = ? GROUP BY bucket",
        (start, bucket_s, campaign, start, Medium.CALL.value))
    counts = [0] * buckets
    for bucket, count in rows:
        if 0 <= int(bucket) < buckets:
            counts[int(bucket)] = int(count)
    return counts


async def originations_since(tx: Tx, campaign: str, since: float) -> int:
    """Calls originated by `campaign` since `since`."""
    row = await tx.fetchone("SELECT COUNT(*) FROM attempts WHERE campaign_id = ? AND created_at >= ? AND medium = ?",
                            (campaign, since, Medium.CALL.value))
    return int(row[0]) if row else 0


async def pending_zone_groups(tx: Tx, campaign: str, limit: int) -> list[tuple[str, tuple[str, ...]]]:
    """(region, time zones) of the campaign's pending leads, the groups with most leads first."""
    rows = await tx.fetchall(
        "SELECT p.region, p.zones, COUNT(*) AS n FROM leads l JOIN phone_numbers p ON p.number = l.number "
        "WHERE l.campaign_id = ? AND l.status = ? GROUP BY p.region, p.zones ORDER BY n DESC LIMIT ?",
        (campaign, LeadStatus.PENDING.value, limit))
    return [(str(r[0]), tuple(str(r[1] or "").split())) for r in rows]
