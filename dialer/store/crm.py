"""The core-table statements of the CRM features (callbacks, `dialer callback`): leads it makes due,
and the contact, number, campaign and lead a callback to a new number needs.

The sync functions run on the database thread inside the caller's transaction (plain sqlite3);
the async ones take a Tx. The CRM's own tables (callbacks, notes, tags, ...) stay in dialer/crm/.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from dialer.numbers import PhoneNumber
from dialer.store.db import Tx
from dialer.store.states import CampaignState, LeadStatus

_NOT_DUE = 4e9  # a lead created for a callback is not due before it (the callback sets the time)


@dataclass(frozen=True, slots=True)
class LeadRef:
    """What scheduling a callback reads of its lead."""

    campaign_id: str
    status: LeadStatus
    priority: int


def lead_ref(conn: sqlite3.Connection, lead_id: int) -> LeadRef | None:
    """The lead's campaign, status and priority; None if there is no such lead."""
    row = conn.execute("SELECT campaign_id, status, priority FROM leads WHERE id = ?", (lead_id,)).fetchone()
    return None if row is None else LeadRef(str(row[0]), LeadStatus(row[1]), int(row[2]))


def lead_status(conn: sqlite3.Connection, lead_id: int) -> LeadStatus | None:
    """The lead's status; None if there is no such lead."""
    row = conn.execute("SELECT status FROM leads WHERE id = ?", (lead_id,)).fetchone()
    return None if row is None else LeadStatus(row[0])


def make_due(conn: sqlite3.Connection, lead_id: int, due_at: float, min_priority: int, now: float) -> None:
    """Make the lead due at `due_at` with at least `min_priority`; a lead being dialled stays dialing
    (its call's outcome decides, then the callback makes it due)."""
    conn.execute(
        "UPDATE leads SET status = CASE WHEN status = ? THEN status ELSE ? END, "
        "next_attempt_at = ?, priority = CASE WHEN priority > ? THEN priority ELSE ? END, updated_at = ? "
        "WHERE id = ?",
        (LeadStatus.DIALING, LeadStatus.PENDING, due_at, min_priority, min_priority, now, lead_id))


def set_priority(conn: sqlite3.Connection, lead_id: int, priority: int) -> None:
    """Give the lead this priority (its own back, once its callback fired)."""
    conn.execute("UPDATE leads SET priority = ? WHERE id = ?", (priority, lead_id))


async def latest_campaign(tx: Tx, e164: str) -> str | None:
    """The campaign of the number's most recently tried (else updated) lead; None if it has none."""
    row = await tx.fetchone(
        "SELECT l.campaign_id FROM leads l LEFT JOIN attempts a ON a.lead_id = l.id WHERE l.number = ? "
        "GROUP BY l.id, l.campaign_id ORDER BY MAX(COALESCE(a.created_at, l.updated_at)) DESC LIMIT 1", (e164,))
    return None if row is None else str(row[0])


async def lead_id(tx: Tx, campaign: str, e164: str) -> int | None:
    """The id of the number's lead in the campaign; None if it has none."""
    row = await tx.fetchone("SELECT id FROM leads WHERE campaign_id = ? AND number = ?", (campaign, e164))
    return None if row is None else int(row[0])


async def new_lead(tx: Tx, number: PhoneNumber, campaign: str, now: float) -> int:
    """A pending lead of `number` in `campaign`, not due until a callback sets its time (and the
    contact, number and campaign rows it needs, if missing); returns its id."""
    known = await tx.fetchone("SELECT 1 FROM phone_numbers WHERE number = ?", (number.e164,))
    if known is None:
        contact_id = await tx.execute("INSERT INTO contacts (name, attributes, created_at, updated_at) "
                                      "VALUES (NULL, '{}', ?, ?)", (now, now))
        await tx.execute("INSERT INTO phone_numbers (number, contact_id, region, number_type, zones, created_at) "
                         "VALUES (?, ?, ?, ?, ?, ?)", (number.e164, contact_id, number.region,
                                                       number.number_type.value, " ".join(number.zones), now))
    await tx.execute("INSERT INTO campaigns (id, state, created_at, updated_at) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT (id) DO NOTHING", (campaign, CampaignState.ACTIVE, now, now))
    return await tx.execute(
        "INSERT INTO leads (campaign_id, number, status, priority, attempts, next_attempt_at, created_at, updated_at) "
        "VALUES (?, ?, ?, 0, 0, ?, ?, ?)", (campaign, number.e164, LeadStatus.PENDING, _NOT_DUE, now, now))
