"""The `contacts` and `phone_numbers` tables: as the dialing side reads them (an SMS template's fields),
and the CRM's contact view (its leads, attempts and audit rows by number)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dialer.store.db import Row, Tx

_CHUNK = 500  # numbers per statement (SQLite's default limit is 32766 variables; smaller pages stay quick)


async def template_fields(tx: Tx, numbers: Sequence[str]) -> dict[str, tuple[str | None, Mapping[str, str]]]:
    """Name and attributes of the contact owning each number (for a message template)."""
    found: dict[str, tuple[str | None, Mapping[str, str]]] = {}
    for start in range(0, len(numbers), _CHUNK):
        chunk = numbers[start:start + _CHUNK]
        rows = await tx.fetchall(
            "SELECT p.number, c.name, c.attributes FROM phone_numbers p JOIN contacts c ON c.id = p.contact_id "
            f"WHERE p.number IN ({','.join('?' * len(chunk))})", chunk)
        for r in rows:
            found[r["number"]] = (r["name"], json.loads(r["attributes"] or "{}"))
    return found


# -- the CRM's contact view (dialer.crm.store reads contacts through these) -----------------------------


def _marks(items: Sequence[object]) -> str:
    return ",".join("?" * len(items))


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i:i + _CHUNK] for i in range(0, len(items), _CHUNK)]


async def contact_exists(tx: Tx, contact_id: int) -> bool:
    """True if there is a contact with this id."""
    return await tx.fetchone("SELECT 1 FROM contacts WHERE id = ?", (contact_id,)) is not None


async def owner_of(tx: Tx, e164: str) -> int | None:
    """The id of the contact owning the number; None if no contact has it."""
    row = await tx.fetchone("SELECT contact_id FROM phone_numbers WHERE number = ?", (e164,))
    return None if row is None else int(row[0])


async def contact_rows(tx: Tx, contact_ids: Sequence[int]) -> list[Row]:
    """id, name, attributes (JSON text), created_at, updated_at, erased_at of these contacts, by id."""
    return await tx.fetchall(
        f"SELECT id, name, attributes, created_at, updated_at, erased_at FROM contacts "
        f"WHERE id IN ({_marks(contact_ids)}) ORDER BY id", contact_ids)


async def number_rows(tx: Tx, contact_ids: Sequence[int]) -> list[Row]:
    """number, contact_id, region, number_type, zones of these contacts' numbers, oldest first."""
    return await tx.fetchall(
        f"SELECT number, contact_id, region, number_type, zones FROM phone_numbers "
        f"WHERE contact_id IN ({_marks(contact_ids)}) ORDER BY created_at, number", contact_ids)


async def numbers_by_contact(tx: Tx, contact_ids: Sequence[int]) -> dict[int, list[str]]:
    """Contact id -> its numbers in order."""
    found: dict[int, list[str]] = {}
    for r in await tx.fetchall(f"SELECT contact_id, number FROM phone_numbers "
                               f"WHERE contact_id IN ({_marks(contact_ids)}) ORDER BY number", contact_ids):
        found.setdefault(int(r[0]), []).append(str(r[1]))
    return found


async def lead_rows(tx: Tx, numbers: Sequence[str]) -> list[Row]:
    """id, campaign_id, number, status, attempts, next_attempt_at, last_disposition of the numbers'
    leads, oldest first within each page of numbers."""
    rows: list[Row] = []
    for chunk in _chunks(numbers):
        rows += await tx.fetchall(
            "SELECT id, campaign_id, number, status, attempts, next_attempt_at, last_disposition FROM leads "
            f"WHERE number IN ({_marks(chunk)}) ORDER BY created_at, id", chunk)
    return rows


GATE_COLUMNS = ("at", "kind", "campaign_id", "lead_id", "call_id", "verdict", "rule", "detail", "actor")


async def attempt_rows(tx: Tx, numbers: Sequence[str]) -> list[Row]:
    """The numbers' attempts, oldest first within each page of numbers, each with the columns of the
    gate decision that allowed it prefixed `g_` (all NULL when it has none)."""
    gate = ", ".join(f"g.{c} AS g_{c}" for c in GATE_COLUMNS)
    rows: list[Row] = []
    for chunk in _chunks(numbers):
        rows += await tx.fetchall(
            "SELECT a.call_id, a.medium, a.campaign_id, a.lead_id, a.number, a.state, a.created_at, a.answered_at, "
            f"a.ended_at, a.disposition, a.talk_s, a.detail, {gate} FROM attempts a "
            f"LEFT JOIN audit g ON g.id = a.audit_id WHERE a.number IN ({_marks(chunk)}) "
            "ORDER BY a.created_at, a.id", chunk)
    return rows


async def audit_rows(tx: Tx, hashes: Sequence[str]) -> list[Row]:
    """The audit rows about these number hashes (GATE_COLUMNS and number_hash), oldest first per page."""
    rows: list[Row] = []
    for chunk in _chunks(hashes):
        rows += await tx.fetchall(
            f"SELECT {', '.join(GATE_COLUMNS)}, number_hash FROM audit WHERE number_hash IN ({_marks(chunk)}) "
            "ORDER BY at, id", chunk)
    return rows


@dataclass(frozen=True, slots=True)
class ContactQuery:
    """What a contact search narrows by in SQL (LIKE patterns already escaped with backslash)."""

    name_like: str | None = None  # on contacts.name
    number_like: str | None = None  # on any of the contact's numbers
    tag: str | None = None  # lower case, exact
    attribute_like: str | None = None  # on any attribute value


async def search_page(tx: Tx, query: ContactQuery, after_id: int, limit: int) -> list[Row]:
    """Candidate contacts (id, name, attributes, erased_at) with id > after_id, by id.

    The tag test reads the CRM's contact_tags in the same statement (one paged query rather than
    paging twice); attribute values are searched with SQLite's json_each (a PostgreSQL backend uses
    jsonb_each_text)."""
    where = ["1 = 1"]
    params: list[object] = []
    if query.name_like is not None:
        where.append("c.name LIKE ? ESCAPE '\\'")
        params.append(query.name_like)
    if query.number_like is not None:
        where.append("EXISTS (SELECT 1 FROM phone_numbers p WHERE p.contact_id = c.id AND p.number LIKE ?)")
        params.append(query.number_like)
    if query.tag is not None:
        where.append("EXISTS (SELECT 1 FROM contact_tags t WHERE t.contact_id = c.id AND t.tag = ?)")
        params.append(query.tag)
    if query.attribute_like is not None:
        where.append("EXISTS (SELECT 1 FROM json_each(c.attributes) j WHERE j.value LIKE ? ESCAPE '\\')")
        params.append(query.attribute_like)
    return await tx.fetchall(
        f"SELECT c.id, c.name, c.attributes, c.erased_at FROM contacts c WHERE {' AND '.join(where)} "
        "AND c.id > ? ORDER BY c.id LIMIT ?", (*params, after_id, limit))


async def contact_ids_page(tx: Tx, after_id: int, limit: int, tag: str | None = None) -> list[int]:
    """Contact ids after `after_id`, in order, optionally only those with `tag` (the CRM's contact_tags)."""
    if tag:
        rows = await tx.fetchall(
            "SELECT c.id FROM contacts c WHERE c.id > ? AND EXISTS (SELECT 1 FROM contact_tags t "
            "WHERE t.contact_id = c.id AND t.tag = ?) ORDER BY c.id LIMIT ?", (after_id, tag, limit))
    else:
        rows = await tx.fetchall("SELECT id FROM contacts WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit))
    return [int(r[0]) for r in rows]


async def touch(tx: Tx, contact_id: int, now: float) -> None:
    """The contact changed (a tag or note): its updated_at is now."""
    await tx.execute("UPDATE contacts SET updated_at = ? WHERE id = ?", (now, contact_id))
