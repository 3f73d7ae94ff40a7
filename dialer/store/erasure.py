"""The core-table statements of erasure on request (`dialer forget`, see dialer.crm.erasure).

Each runs on the database thread inside the erasure's one transaction (plain sqlite3). A number
is replaced by its pseudonym, never deleted from the history: leads, attempts and audit rows keep
their outcomes, times and campaigns.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from dialer.store.states import LeadStatus, RecordingStatus

_PSEUDONYMS = "erased:%"  # LIKE pattern of the numbers already replaced


def contact_of(conn: sqlite3.Connection, e164: str) -> int | None:
    """The contact owning the number; None if the number has no row."""
    row = conn.execute("SELECT contact_id FROM phone_numbers WHERE number = ?", (e164,)).fetchone()
    return int(row[0]) if row is not None else None


def numbers_of(conn: sqlite3.Connection, contact_id: int) -> list[str]:
    """The contact's numbers in clear (not those already replaced by a pseudonym), in order."""
    return [r[0] for r in conn.execute(
        "SELECT number FROM phone_numbers WHERE contact_id = ? AND number NOT LIKE ? ORDER BY number",
        (contact_id, _PSEUDONYMS))]


@dataclass(frozen=True, slots=True)
class ContactFields:
    """What a contact row holds about the person."""

    name: str | None
    attributes: dict[str, object]


def contact_fields(conn: sqlite3.Connection, contact_id: int) -> ContactFields | None:
    """The contact's name and attributes; None if there is no such contact."""
    row = conn.execute("SELECT name, attributes FROM contacts WHERE id = ?", (contact_id,)).fetchone()
    return None if row is None else ContactFields(row[0], json.loads(row[1] or "{}"))


def clear_contact(conn: sqlite3.Connection, contact_id: int, now: float) -> None:
    """Empty the contact's name and attributes and mark it erased (the row stays: numbers point at it)."""
    conn.execute("UPDATE contacts SET name = NULL, attributes = '{}', erased_at = ?, updated_at = ? WHERE id = ?",
                 (now, now, contact_id))


def replace_in_leads(conn: sqlite3.Connection, number: str, alias: str, now: float) -> int:
    """The number becomes `alias` in phone_numbers and leads (queued leads blocked: an erased person is
    never dialled); returns how many leads it was in."""
    # phone_numbers is the parent of leads.number: add the pseudonym's row, move the leads, drop the old.
    phone = conn.execute("SELECT contact_id, region, number_type, zones, created_at FROM phone_numbers "
                         "WHERE number = ?", (number,)).fetchone()
    if phone is not None:
        conn.execute("INSERT INTO phone_numbers (number, contact_id, region, number_type, zones, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (number) DO NOTHING", (alias, *phone))
    conn.execute("UPDATE leads SET status = ?, last_disposition = COALESCE(last_disposition, ?), "
                 "updated_at = ? WHERE number = ? AND status = ?",
                 (LeadStatus.BLOCKED, "blocked", now, number, LeadStatus.PENDING))
    moved = conn.execute("UPDATE leads SET number = ? WHERE number = ?", (alias, number)).rowcount
    if phone is not None:
        conn.execute("DELETE FROM phone_numbers WHERE number = ?", (number,))
    return int(moved)


def replace_in_attempts(conn: sqlite3.Connection, number: str, alias: str) -> list[str]:
    """The number becomes `alias` in attempts; returns the call ids of those attempts."""
    call_ids = [r[0] for r in conn.execute("SELECT call_id FROM attempts WHERE number = ?", (number,))]
    conn.execute("UPDATE attempts SET number = ? WHERE number = ?", (alias, number))
    return call_ids


def unmask_audit(conn: sqlite3.Connection, digest: str) -> list[int]:
    """Drop the masked number from the audit rows of `digest` (the hash stays); returns their ids."""
    audit_ids = [r[0] for r in conn.execute("SELECT id FROM audit WHERE number_hash = ?", (digest,))]
    conn.execute("UPDATE audit SET number_masked = NULL WHERE number_hash = ?", (digest,))
    return audit_ids


def add_forget_audit(conn: sqlite3.Connection, digest: str, summary: str, actor: str, now: float) -> None:
    """The one audit row of an erasure (the hash of the number asked for; no number, masked or not)."""
    conn.execute(
        "INSERT INTO audit (at, kind, number_hash, number_masked, verdict, rule, detail, actor) "
        "VALUES (?, 'forget', ?, NULL, NULL, 'dnc.erased', ?, ?)", (now, digest, summary, actor))


def mark_recordings_erased(conn: sqlite3.Connection, call_ids: Sequence[str]) -> None:
    """These calls' recordings were erased: their outcomes say so (those that had a recording)."""
    marks = ",".join("?" * len(call_ids))
    conn.execute(f"UPDATE attempts SET recording_status = ? WHERE call_id IN ({marks}) "
                 "AND recording_status IS NOT NULL", (RecordingStatus.ERASED, *call_ids))
