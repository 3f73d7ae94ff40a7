"""Counts over the core tables for the live stats (`campaigns/<id>/stats`) and the backup check."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from dialer.store.db import Tx
from dialer.store.states import AttemptState


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
