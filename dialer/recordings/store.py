"""The recordings' SQL: pending rows (written with the call's outcome), results, holds, purge, audit."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dialer.store import Tx, calls
from dialer.store.audit import AuditEntry, add_entry
from dialer.store.db import Row
from dialer.store.states import RecordingStatus


@dataclass(frozen=True, slots=True)
class NewPending:
    """A recording to collect, from an answered call's final outcome."""

    call_id: str
    campaign_id: str
    source_path: str  # as Asterisk sees it
    stop_seen: bool
    expected_s: float | None  # the call's talk time; None when unknown
    created_at: float  # the call's end


@dataclass(frozen=True, slots=True)
class Pending:
    """A pending row as the archiver reads it."""

    call_id: str
    campaign_id: str
    source_path: str
    stop_seen: bool
    expected_s: float | None
    created_at: float

    @classmethod
    def from_row(cls, row: Row) -> Pending:
        """From a `recordings` row."""
        return cls(row["call_id"], row["campaign_id"], row["source_path"], bool(row["stop_seen"]),
                   row["expected_s"], row["created_at"])


@dataclass(frozen=True, slots=True)
class Result:
    """What became of a pending recording."""

    call_id: str
    status: RecordingStatus  # archived | broken | missing
    problem: str | None
    path: str | None
    bytes: int | None
    duration_s: float | None
    sha256: str | None


def insert_pending(conn: sqlite3.Connection, rows: Sequence[NewPending]) -> None:
    """Inside the outcome's transaction: the pending rows and the outcome's flag."""
    conn.executemany(
        "INSERT INTO recordings (call_id, campaign_id, status, source_path, stop_seen, expected_s, created_at) "
        "VALUES (?, ?, 'pending', ?, ?, ?, ?) ON CONFLICT (call_id) DO NOTHING",
        [(r.call_id, r.campaign_id, r.source_path, int(r.stop_seen), r.expected_s, r.created_at) for r in rows],
    )
    calls.flag_recordings(conn, [r.call_id for r in rows], RecordingStatus.PENDING)


async def pending(tx: Tx, limit: int = 500) -> list[Pending]:
    """Pending recordings, oldest first."""
    rows = await tx.fetchall(
        "SELECT call_id, campaign_id, source_path, stop_seen, expected_s, created_at FROM recordings "
        "WHERE status = 'pending' ORDER BY created_at, call_id LIMIT ?", (limit,))
    return [Pending.from_row(row) for row in rows]


async def record_results(tx: Tx, results: Sequence[Result], now: float) -> None:
    """Write results to the metadata rows and flag the calls' outcomes."""
    await tx.executemany(
        "UPDATE recordings SET status = ?, problem = ?, path = ?, bytes = ?, duration_s = ?, sha256 = ?, "
        "archived_at = ? WHERE call_id = ? AND status = 'pending'",
        [(r.status, r.problem, r.path, r.bytes, r.duration_s, r.sha256, now if r.path else None, r.call_id)
         for r in results],
    )
    await calls.set_recording_statuses(tx, [(r.call_id, r.status) for r in results])


async def recordings_by_status(tx: Tx) -> dict[str, int]:
    """How many recordings are in each status."""
    rows = await tx.fetchall("SELECT status, COUNT(*) AS n FROM recordings GROUP BY status")
    return {row["status"]: int(row["n"]) for row in rows}


async def missing_count(tx: Tx) -> int:
    """Recordings of answered calls that are missing or failed their check (not purged): the metric's value."""
    row = await tx.fetchone("SELECT COUNT(*) AS n FROM recordings WHERE status IN ('missing', 'broken')")
    return int(row["n"]) if row else 0


async def problems(tx: Tx, older_than: float) -> list[dict[str, Any]]:
    """Calls whose recording is missing or broken, and pending ones older than `older_than` (with
    the call's disposition and talk time)."""
    rows = await tx.fetchall(
        "SELECT call_id, campaign_id, status, problem, source_path, path, created_at FROM recordings "
        "WHERE status IN ('missing', 'broken') OR (status = 'pending' AND created_at < ?) "
        "ORDER BY created_at, call_id", (older_than,))
    outcomes = await calls.outcomes_of(tx, [row["call_id"] for row in rows])
    found = []
    for row in rows:
        if row["call_id"] not in outcomes:
            continue  # listed with its attempt only, as the inner join this replaces did
        disposition, talk_s = outcomes[row["call_id"]]
        found.append({**dict(row), "disposition": disposition, "talk_s": talk_s})
    return found


async def archived(tx: Tx, campaign: str | None = None) -> list[Row]:
    """Recordings with a file in the archive (not purged)."""
    where = "status IN ('archived', 'broken') AND path IS NOT NULL"
    params: tuple[str, ...] = ()
    if campaign is not None:
        where += " AND campaign_id = ?"
        params = (campaign,)
    return await tx.fetchall(
        f"SELECT call_id, campaign_id, status, path, bytes, sha256, created_at FROM recordings WHERE {where} "
        "ORDER BY created_at, call_id", params)


async def record_verification(tx: Tx, checked: Sequence[tuple[str, str | None]], now: float) -> None:
    """Store the outcome of a re-hash: (call_id, problem or None) per file."""
    await tx.executemany("UPDATE recordings SET verified_at = ?, verify_problem = ? WHERE call_id = ?",
                         [(now, problem, call_id) for call_id, problem in checked])


async def purge_candidates(tx: Tx, campaign: str, cutoff: float) -> list[Row]:
    """A campaign's archived recordings created before `cutoff` and under no active legal hold."""
    return await tx.fetchall(
        "SELECT r.call_id, r.campaign_id, r.path, r.sha256, r.created_at FROM recordings r "
        "WHERE r.campaign_id = ? AND r.status IN ('archived', 'broken') AND r.path IS NOT NULL "
        "AND r.created_at < ? "
        "AND NOT EXISTS (SELECT 1 FROM recording_holds h WHERE h.released_at IS NULL AND "
        "((h.scope = 'call' AND h.target = r.call_id) OR (h.scope = 'campaign' AND h.target = r.campaign_id))) "
        "ORDER BY r.created_at, r.call_id", (campaign, cutoff))


async def campaigns_with_files(tx: Tx) -> list[str]:
    """Campaigns that have recordings in the archive."""
    rows = await tx.fetchall(
        "SELECT DISTINCT campaign_id FROM recordings WHERE status IN ('archived', 'broken') AND path IS NOT NULL "
        "ORDER BY campaign_id")
    return [row["campaign_id"] for row in rows]


async def mark_purged(tx: Tx, row: Row, now: float, detail: str, actor: str) -> None:
    """One purged file: its row, its outcome's flag, and its audit row."""
    await tx.execute("UPDATE recordings SET status = 'purged', purged_at = ? WHERE call_id = ?",
                     (now, row["call_id"]))
    await calls.set_recording_statuses(tx, [(row["call_id"], RecordingStatus.PURGED)])
    await audit(tx, now, "recording_purged", row["campaign_id"], row["call_id"], detail, actor)


async def audit(tx: Tx, now: float, kind: str, campaign: str | None, call_id: str | None, detail: str,
                actor: str) -> None:
    """An audit row about recordings (no number: the call id leads to it for those allowed to look)."""
    await add_entry(tx, AuditEntry(now, kind, actor, detail, campaign=campaign, call_id=call_id))


async def active_hold(tx: Tx, scope: str, target: str) -> Row | None:
    """The active hold on a call or campaign, if any."""
    return await tx.fetchone(
        "SELECT id, reason, created_at, created_by FROM recording_holds "
        "WHERE scope = ? AND target = ? AND released_at IS NULL", (scope, target))


async def add_hold(tx: Tx, scope: str, target: str, reason: str, now: float, actor: str) -> bool:
    """Place a hold; False if one is already active."""
    if await active_hold(tx, scope, target) is not None:
        return False
    await tx.execute(
        "INSERT INTO recording_holds (scope, target, reason, created_at, created_by) VALUES (?, ?, ?, ?, ?)",
        (scope, target, reason, now, actor))
    return True


async def release_hold(tx: Tx, scope: str, target: str, now: float, actor: str) -> bool:
    """Release the active hold; False if there was none."""
    changed = await tx.execute(
        "UPDATE recording_holds SET released_at = ?, released_by = ? "
        "WHERE scope = ? AND target = ? AND released_at IS NULL", (now, actor, scope, target))
    return changed > 0


async def holds(tx: Tx) -> list[Row]:
    """Active holds."""
    return await tx.fetchall(
        "SELECT scope, target, reason, created_at, created_by FROM recording_holds WHERE released_at IS NULL "
        "ORDER BY created_at")
