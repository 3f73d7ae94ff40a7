"""Store operations of the dialing pipeline: claim due leads, record gate decisions and attempts,
apply call state changes and their lead updates; the attempts' other readers and writers (the SMS
sender's unfinished messages and unsendable leads, opt-out recovery, recording flags). Bulk work
runs in one hop on the database thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dialer.compliance.model import NumberHistory
from dialer.outcome import Disposition
from dialer.retry import LeadStatus, LeadStep
from dialer.store.db import Row, Tx
from dialer.store.states import AttemptState, Medium, RecordingStatus

LIVE_STATES = ("originating", "ringing", "answered")
HISTORY_WINDOW_S = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class DueLead:
    """A lead that may be dialled now, with its stored number facts."""

    lead_id: int
    campaign_id: str
    number: str
    region: str
    number_type: str
    zones: tuple[str, ...]
    attempts: int


@dataclass(frozen=True, slots=True)
class GateRecord:
    """A gate decision to write to the audit table (number already hashed and masked)."""

    lead_id: int
    campaign_id: str
    number_hash: str
    number_masked: str
    verdict: str
    rule: str
    detail: str


@dataclass(frozen=True, slots=True)
class NewAttempt:
    """An allowed call: its attempt row is written with its gate decision, before the Originate."""

    gate: GateRecord
    call_id: str
    number: str
    node: str
    medium: str = "call"  # or "sms": a message is an attempt too, counted apart from calls


@dataclass(frozen=True, slots=True)
class BlockedLead:
    """A blocked lead: its audit row, and either a retry time or a final block."""

    gate: GateRecord
    retry_at: float | None


@dataclass(frozen=True, slots=True)
class StateUpdate:
    """A live attempt moved to ringing or answered."""

    call_id: str
    state: str
    answered_at: float | None


@dataclass(frozen=True, slots=True)
class FinalUpdate:
    """An attempt ended: its outcome and what the retry policy decided for its lead."""

    call_id: str
    lead_id: int
    disposition: Disposition
    reason: int | None
    cause: int | None
    ended_at: float
    answered_at: float | None
    talk_s: float | None
    detail: str
    channel: str | None
    uniqueid: str | None
    # The disposition the lead's retry is decided as, when not `disposition` (an unknown outcome of an
    # Originate that may have reached Asterisk is retried as if answered).
    retry_as: Disposition | None = None


async def claim_due(tx: Tx, campaign_id: str, now: float, limit: int) -> list[DueLead]:
    """Due leads of a campaign in priority order, skipping numbers with a live attempt anywhere."""
    rows = await tx.fetchall(
        "SELECT l.id, l.campaign_id, l.number, l.attempts, p.region, p.number_type, p.zones "
        "FROM leads l JOIN phone_numbers p ON p.number = l.number "
        "WHERE l.campaign_id = ? AND l.status = 'pending' AND l.next_attempt_at <= ? "
        "AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.number = l.number AND a.state <> 'ended') "
        "ORDER BY l.priority DESC, l.next_attempt_at, l.id LIMIT ?",
        (campaign_id, now, limit),
    )
    return [
        DueLead(row["id"], row["campaign_id"], row["number"], row["region"], row["number_type"],
                tuple(row["zones"].split()) if row["zones"] else (), row["attempts"])
        for row in rows
    ]


async def number_histories(tx: Tx, numbers: Sequence[str], now: float, medium: str = "call"
                           ) -> dict[str, NumberHistory]:
    """Attempt times of the last 7 days and the last abandoned call, per number, across campaigns.

    Calls and messages are capped separately: `medium` says which attempts count.
    """
    result: dict[str, NumberHistory] = {}
    if not numbers:
        return result
    times: dict[str, list[float]] = {}
    abandoned: dict[str, float] = {}
    for start in range(0, len(numbers), 500):
        chunk = numbers[start:start + 500]
        marks = ",".join("?" * len(chunk))
        rows = await tx.fetchall(
            f"SELECT number, created_at, disposition, ended_at FROM attempts "
            f"WHERE number IN ({marks}) AND created_at >= ? AND medium = ?",
            (*chunk, now - HISTORY_WINDOW_S, medium),
        )
        for row in rows:
            times.setdefault(row["number"], []).append(row["created_at"])
            if row["disposition"] == Disposition.ABANDONED:
                abandoned[row["number"]] = max(abandoned.get(row["number"], 0.0), row["ended_at"] or 0.0)
    for number in numbers:
        result[number] = NumberHistory(tuple(sorted(times.get(number, ()))), abandoned.get(number))
    return result


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """What `record_decisions` wrote: attempt ids of the allowed calls, and calls it refused."""

    attempt_ids: dict[str, int]
    audit_ids: dict[str, int]
    refused: list[str]  # call ids whose number turned out to be live already (unique index)


async def record_decisions(
    tx: Tx, allowed: Sequence[NewAttempt], blocked: Sequence[BlockedLead], now: float
) -> DecisionResult:
    """Write every audit row, every attempt row (state originating) and the leads' new status."""
    result: DecisionResult = await tx.run(_record_decisions, allowed, blocked, now)
    return result


_AUDIT_SQL = (
    "INSERT INTO audit (at, kind, campaign_id, lead_id, call_id, number_hash, number_masked, verdict, rule, "
    "detail, actor) VALUES (?, 'gate', ?, ?, ?, ?, ?, ?, ?, ?, 'dialer')"
)


def _audit(conn: sqlite3.Connection, gate: GateRecord, call_id: str | None, now: float) -> int:
    cursor = conn.execute(_AUDIT_SQL, (now, gate.campaign_id, gate.lead_id, call_id, gate.number_hash,
                                       gate.number_masked, gate.verdict, gate.rule, gate.detail))
    return int(cursor.lastrowid or 0)


def _record_decisions(
    conn: sqlite3.Connection, allowed: Sequence[NewAttempt], blocked: Sequence[BlockedLead], now: float
) -> DecisionResult:
    attempt_ids: dict[str, int] = {}
    audit_ids: dict[str, int] = {}
    refused: list[str] = []
    for item in allowed:
        conn.execute("SAVEPOINT attempt")
        audit_id = _audit(conn, item.gate, item.call_id, now)
        try:
            cursor = conn.execute(
                "INSERT INTO attempts (call_id, lead_id, campaign_id, number, node, audit_id, state, created_at, "
                "medium) VALUES (?, ?, ?, ?, ?, ?, 'originating', ?, ?)",
                (item.call_id, item.gate.lead_id, item.gate.campaign_id, item.number, item.node, audit_id, now,
                 item.medium),
            )
        except sqlite3.IntegrityError:
            # Another campaign (or node) has a live call to this number: safety invariant 3.
            conn.execute("ROLLBACK TO attempt")
            conn.execute("RELEASE attempt")
            refused.append(item.call_id)
            conn.execute("UPDATE leads SET next_attempt_at = ?, updated_at = ? WHERE id = ?",
                         (now + 30.0, now, item.gate.lead_id))
            continue
        conn.execute("RELEASE attempt")
        attempt_ids[item.call_id] = int(cursor.lastrowid or 0)
        audit_ids[item.call_id] = audit_id
        conn.execute(
            "UPDATE leads SET status = 'dialing', attempts = attempts + 1, last_attempt_at = ?, updated_at = ? "
            "WHERE id = ?",
            (now, now, item.gate.lead_id),
        )
    for held in blocked:
        _audit(conn, held.gate, None, now)
        if held.retry_at is None:
            conn.execute(
                "UPDATE leads SET status = 'blocked', last_disposition = 'blocked', updated_at = ? WHERE id = ?",
                (now, held.gate.lead_id),
            )
        else:
            conn.execute("UPDATE leads SET next_attempt_at = ?, updated_at = ? WHERE id = ?",
                         (held.retry_at, now, held.gate.lead_id))
    return DecisionResult(attempt_ids, audit_ids, refused)


async def apply_changes(
    tx: Tx,
    states: Sequence[StateUpdate],
    finals: Sequence[FinalUpdate],
    decide: Callable[[str, Disposition, int], LeadStep],
    now: float,
) -> list[str]:
    """Write state changes and final outcomes; `decide(campaign, disposition, attempts)` gives each
    lead's next step. Returns the call ids whose final outcome was written (each exactly once)."""
    written: list[str] = await tx.run(apply_changes_in, states, finals, decide, now)
    return written


def apply_changes_in(
    conn: sqlite3.Connection,
    states: Sequence[StateUpdate],
    finals: Sequence[FinalUpdate],
    decide: Callable[[str, Disposition, int], LeadStep],
    now: float,
) -> list[str]:
    """`apply_changes` on a connection inside a transaction, on the database thread (one hop with
    the rest of a `Database.write_in_thread` transaction)."""
    conn.executemany(
        "UPDATE attempts SET state = ?, answered_at = COALESCE(answered_at, ?) "
        "WHERE call_id = ? AND state <> 'ended'",
        [(s.state, s.answered_at, s.call_id) for s in states],
    )
    written = []
    for final in finals:
        cursor = conn.execute(
            "UPDATE attempts SET state = 'ended', disposition = ?, reason = ?, cause = ?, ended_at = ?, "
            "answered_at = COALESCE(answered_at, ?), talk_s = ?, detail = ?, channel = ?, uniqueid = ? "
            "WHERE call_id = ? AND state <> 'ended'",
            (final.disposition.value, final.reason, final.cause, final.ended_at, final.answered_at,
             final.talk_s, final.detail or None, final.channel, final.uniqueid, final.call_id),
        )
        if cursor.rowcount != 1:
            continue  # already ended: exactly one final outcome per attempt
        written.append(final.call_id)
        lead = conn.execute("SELECT campaign_id, attempts, status FROM leads WHERE id = ?",
                            (final.lead_id,)).fetchone()
        if lead is None:
            continue
        step = decide(lead[0], final.retry_as or final.disposition, lead[1])
        status = step.status.value if lead[2] in (LeadStatus.DIALING, LeadStatus.PENDING) else lead[2]
        conn.execute(
            "UPDATE leads SET status = ?, next_attempt_at = ?, last_disposition = ?, updated_at = ? WHERE id = ?",
            (status, step.next_attempt_at, final.disposition.value, now, final.lead_id),
        )
    return written


async def live_attempts(tx: Tx, node: str) -> list[Row]:
    """This node's calls that have no final outcome (to reconcile after a restart; messages are
    settled by the SMS sender)."""
    return await tx.fetchall(
        "SELECT id, call_id, lead_id, campaign_id, number, state, created_at, answered_at FROM attempts "
        "WHERE state <> 'ended' AND node = ? AND medium = 'call' ORDER BY id",
        (node,),
    )


async def unfinished_messages(tx: Tx, node: str) -> list[Row]:
    """This node's text messages that have no final outcome (the SMS sender settles them at start)."""
    return await tx.fetchall(
        "SELECT call_id, lead_id, campaign_id, number, id, created_at FROM attempts "
        "WHERE state <> ? AND node = ? AND medium = ?", (AttemptState.ENDED, node, Medium.SMS))


@dataclass(frozen=True, slots=True)
class UnsendableLead:
    """A lead whose message cannot be made: the rule and reason (names only, never values)."""

    lead_id: int
    number_hash: str
    number_masked: str
    rule: str
    detail: str


def block_unsendable(conn: sqlite3.Connection, campaign: str, leads: Sequence[UnsendableLead], now: float) -> None:
    """Inside the send transaction: an audit row per lead, and the lead made invalid (its message
    cannot be made, so no retry would do better)."""
    for lead in leads:
        conn.execute(
            "INSERT INTO audit (at, kind, campaign_id, lead_id, number_hash, number_masked, verdict, rule, detail, "
            "actor) VALUES (?, 'sms', ?, ?, ?, ?, 'block', ?, ?, 'dialer')",
            (now, campaign, lead.lead_id, lead.number_hash, lead.number_masked, lead.rule, lead.detail))
        conn.execute("UPDATE leads SET status = ?, last_disposition = ?, updated_at = ? WHERE id = ?",
                     (LeadStatus.INVALID, lead.rule.replace(".", "_"), now, lead.lead_id))


async def opted_out_calls(tx: Tx) -> list[Row]:
    """Every attempt whose outcome was an opt-out: number, campaign_id, call_id."""
    return await tx.fetchall("SELECT number, campaign_id, call_id FROM attempts WHERE disposition = ?",
                             (Disposition.OPTED_OUT,))


def flag_recordings(conn: sqlite3.Connection, call_ids: Sequence[str], status: RecordingStatus) -> None:
    """On the database thread: these calls' outcomes get `recording_status`."""
    conn.executemany("UPDATE attempts SET recording_status = ? WHERE call_id = ?",
                     [(status, call_id) for call_id in call_ids])


async def set_recording_statuses(tx: Tx, statuses: Sequence[tuple[str, RecordingStatus]]) -> None:
    """(call id, status) pairs: each call's outcome gets that `recording_status`."""
    await tx.executemany("UPDATE attempts SET recording_status = ? WHERE call_id = ?",
                         [(status, call_id) for call_id, status in statuses])


async def outcomes_of(tx: Tx, call_ids: Sequence[str]) -> dict[str, tuple[str | None, float | None]]:
    """Call id -> (disposition, talk_s) of those attempts that exist."""
    found: dict[str, tuple[str | None, float | None]] = {}
    for start in range(0, len(call_ids), 500):
        chunk = call_ids[start:start + 500]
        for row in await tx.fetchall(f"SELECT call_id, disposition, talk_s FROM attempts "
                                     f"WHERE call_id IN ({','.join('?' * len(chunk))})", chunk):
            found[row[0]] = (row[1], row[2])
    return found
