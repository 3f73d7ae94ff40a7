"""The SQL of lead lists and of importing leads: contacts, phone numbers, leads, lead_lists, audit;
and the lead counts and pages others read (`run_until_settled`'s progress, `dialer scrub`'s pages).

Import functions run on the database thread inside the importer's one transaction (`tx.run`,
plain sqlite3, bulk `executemany`); the list-management functions (`dialer leads ...`) are async
over a Tx. Statuses are `LeadStatus` values, never literals.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from dialer.retry import LeadStatus
from dialer.store.db import Row, Tx

AUDIT_KIND = "leads"
_LOOKUP_BATCH = 500


class DuplicatePolicy(StrEnum):
    """What a second row of a number (in the file, or a number already on record) does."""

    MERGE = "merge"  # name: the later non-empty one; attributes combined, later values win; the highest priority
    KEEP_FIRST = "keep-first"  # the first row (or what is on record) stays as it is
    KEEP_LAST = "keep-last"  # the later row replaces name, attributes, priority and list


class Record(NamedTuple):
    """One good row as the database takes it (built in the importer's worker processes)."""

    line: int
    e164: str
    region: str
    number_type: str
    zones: str
    name: str | None
    priority: int
    attributes: str  # JSON object


# Record field positions, for the plain tuples the workers send back.
LINE, E164, REGION, TYPE, ZONES, NAME, PRIORITY, ATTRIBUTES = range(8)


@dataclass(frozen=True, slots=True)
class ImportStart:
    """What an import's transaction knew when it began."""

    cache_size: int
    leads_before: int
    contacts_before: int
    list_id: int


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import wrote."""

    new_leads: int
    existing_leads: int
    new_contacts: int
    updated_contacts: int


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """What an import read, for its list row and audit row."""

    rows: int
    numbers: int
    duplicates: int
    bad: int


def begin_import(conn: sqlite3.Connection, campaign_id: str, list_name: str, source: str, policy: DuplicatePolicy,
                 actor: str, now: float) -> ImportStart:
    """The campaign row, the list row (created, or an existing list of that name reused), a large page cache."""
    conn.execute(
        # New leads bring a finished campaign back to active (a paused one stays paused).
        "INSERT INTO campaigns (id, state, created_at, updated_at) VALUES (?, 'active', ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET state = CASE WHEN campaigns.state = 'finished' THEN 'active' "
        "ELSE campaigns.state END, updated_at = excluded.updated_at",
        (campaign_id, now, now),
    )
    conn.execute(
        "INSERT INTO lead_lists (campaign_id, name, source, created_at, created_by, updated_at, duplicate_policy) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (campaign_id, name) DO UPDATE SET source = excluded.source, "
        "updated_at = excluded.updated_at, duplicate_policy = excluded.duplicate_policy",
        (campaign_id, list_name, source, now, actor, now, policy.value))
    (list_id,) = conn.execute("SELECT id FROM lead_lists WHERE campaign_id = ? AND name = ?",
                              (campaign_id, list_name)).fetchone()
    (cache_size,) = conn.execute("PRAGMA cache_size").fetchone()
    # The indexes of a big import stay in memory for its length (measured: 2x faster than the default).
    conn.execute("PRAGMA cache_size = -262144")
    (leads,) = conn.execute("SELECT COUNT(*) FROM leads WHERE campaign_id = ?", (campaign_id,)).fetchone()
    (contacts,) = conn.execute("SELECT COUNT(*) FROM contacts").fetchone()
    return ImportStart(int(cache_size), int(leads), int(contacts), int(list_id))


def end_import(conn: sqlite3.Connection, cache_size: int) -> None:
    """The page cache back to what it was."""
    conn.execute(f"PRAGMA cache_size = {int(cache_size)}")


def finish_import(conn: sqlite3.Connection, campaign_id: str, start: ImportStart, counts: ImportCounts,
                  policy: DuplicatePolicy, list_name: str, actor: str, now: float) -> ImportResult:
    """What the import wrote; the list's counts and one audit row, in the import's transaction."""
    (leads,) = conn.execute("SELECT COUNT(*) FROM leads WHERE campaign_id = ?", (campaign_id,)).fetchone()
    (contacts,) = conn.execute("SELECT COUNT(*) FROM contacts").fetchone()
    new_leads = leads - start.leads_before
    new_contacts = contacts - start.contacts_before
    result = ImportResult(new_leads=new_leads, existing_leads=counts.numbers - new_leads,
                          new_contacts=new_contacts, updated_contacts=counts.numbers - new_contacts)
    conn.execute(
        "UPDATE lead_lists SET imports = imports + 1, rows_read = rows_read + ?, new_leads = new_leads + ?, "
        "existing_leads = existing_leads + ?, duplicate_rows = duplicate_rows + ?, bad_rows = bad_rows + ?, "
        "updated_at = ? WHERE id = ?",
        (counts.rows, result.new_leads, result.existing_leads, counts.duplicates, counts.bad, now, start.list_id))
    detail = (f"list {list_name}: {counts.rows} rows, {counts.numbers} numbers ({result.new_leads} new leads, "
              f"{result.existing_leads} already there), {counts.duplicates} duplicate rows ({policy.value}), "
              f"{counts.bad} bad rows")
    conn.execute("INSERT INTO audit (at, kind, campaign_id, verdict, rule, detail, actor) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (now, AUDIT_KIND, campaign_id, "change", "import", detail, actor))
    return result


def combine(first: tuple[Any, ...], later: tuple[Any, ...], policy: DuplicatePolicy) -> tuple[Any, ...]:
    """Two rows of one number in one file, by the duplicate policy."""
    if policy is DuplicatePolicy.KEEP_FIRST:
        return tuple(first)
    if policy is DuplicatePolicy.KEEP_LAST:
        return (first[LINE], *tuple(later)[1:])
    attributes = {**json.loads(first[ATTRIBUTES]), **json.loads(later[ATTRIBUTES])}
    return (first[LINE], first[E164], first[REGION], first[TYPE], first[ZONES], later[NAME] or first[NAME],
            max(first[PRIORITY], later[PRIORITY]), json.dumps(attributes))


_LEAD_UPSERT = {
    DuplicatePolicy.MERGE: "DO UPDATE SET priority = MAX(leads.priority, excluded.priority), "
                           "list_id = excluded.list_id, updated_at = excluded.updated_at",
    DuplicatePolicy.KEEP_LAST: "DO UPDATE SET priority = excluded.priority, list_id = excluded.list_id, "
                               "updated_at = excluded.updated_at",
    DuplicatePolicy.KEEP_FIRST: "DO NOTHING",
}


def write_chunk(conn: sqlite3.Connection, campaign_id: str, list_id: int, records: Sequence[tuple[Any, ...]],
                again: Sequence[tuple[Any, ...]], now: float, policy: DuplicatePolicy, lookup_all: bool) -> None:
    """Contacts, numbers and leads of one chunk; a number already on record meets the duplicate policy.

    `again` are numbers an earlier chunk of the same import wrote; `lookup_all` False narrows the
    lookup of known numbers to them (an import into a database without contacts).
    """
    # Sorted inserts touch each B-tree page once per chunk instead of at random.
    rows = sorted([*records, *again], key=lambda record: record[E164])
    lookup = rows if lookup_all else again
    known: dict[str, tuple[int, str | None, str]] = {}
    for start in range(0, len(lookup), _LOOKUP_BATCH):
        part = [record[E164] for record in lookup[start:start + _LOOKUP_BATCH]]
        marks = ",".join("?" * len(part))
        for number, contact_id, name, attributes in conn.execute(
            f"SELECT p.number, p.contact_id, c.name, c.attributes FROM phone_numbers p "
            f"JOIN contacts c ON c.id = p.contact_id WHERE p.number IN ({marks})", part,
        ):
            known[number] = (contact_id, name, attributes)
    updates = []
    new = []
    for record in rows:
        old = known.get(record[E164])
        if old is None:
            new.append(record)
            continue
        contact_id, old_name, old_attributes = old
        if policy is DuplicatePolicy.KEEP_FIRST:
            continue
        if policy is DuplicatePolicy.KEEP_LAST:
            updates.append((record[NAME], record[ATTRIBUTES], now, contact_id))
            continue
        attributes = {**json.loads(old_attributes), **json.loads(record[ATTRIBUTES])}
        updates.append((record[NAME] or old_name, json.dumps(attributes), now, contact_id))
    conn.executemany("UPDATE contacts SET name = ?, attributes = ?, updated_at = ? WHERE id = ?", updates)
    next_id = (conn.execute("SELECT COALESCE(MAX(id), 0) FROM contacts").fetchone()[0]) + 1
    ids = range(next_id, next_id + len(new))
    conn.executemany(
        "INSERT INTO contacts (id, name, attributes, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        [(cid, r[NAME], r[ATTRIBUTES], now, now) for cid, r in zip(ids, new, strict=True)],
    )
    conn.executemany(
        "INSERT INTO phone_numbers (number, contact_id, region, number_type, zones, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(r[E164], cid, r[REGION], r[TYPE], r[ZONES], now) for cid, r in zip(ids, new, strict=True)],
    )
    pending = LeadStatus.PENDING.value
    conn.executemany(
        "INSERT INTO leads (campaign_id, number, status, priority, attempts, next_attempt_at, created_at, "
        f"updated_at, list_id) VALUES (?, ?, ?, ?, 0, 0, ?, ?, ?) ON CONFLICT (campaign_id, number) "
        f"{_LEAD_UPSERT[policy]}",
        [(campaign_id, r[E164], pending, r[PRIORITY], now, now, list_id) for r in rows],
    )


# -- list management (`dialer leads ...`) ------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LeadFilter:
    """Which leads of a campaign a command is about."""

    campaign: str
    list_name: str | None = None
    statuses: tuple[LeadStatus, ...] = ()
    dispositions: tuple[str, ...] = ()

    def where(self) -> tuple[str, list[Any]]:
        """A WHERE clause over `leads l` (joined with `lead_lists ll`) and its parameters."""
        parts = ["l.campaign_id = ?"]
        params: list[Any] = [self.campaign]
        if self.list_name is not None:
            parts.append("ll.name = ?")
            params.append(self.list_name)
        if self.statuses:
            parts.append(f"l.status IN ({','.join('?' * len(self.statuses))})")
            params += [s.value for s in self.statuses]
        if self.dispositions:
            parts.append(f"l.last_disposition IN ({','.join('?' * len(self.dispositions))})")
            params += list(self.dispositions)
        return " AND ".join(parts), params


_FROM = "FROM leads l LEFT JOIN lead_lists ll ON ll.id = l.list_id"


@dataclass(frozen=True, slots=True)
class ListSummary:
    """One lead list of a campaign: its import record and its leads by status."""

    name: str
    source: str
    created_at: float | None
    created_by: str
    imports: int
    rows_read: int
    duplicate_rows: int
    bad_rows: int
    by_status: dict[str, int]


async def list_exists(tx: Tx, campaign: str, name: str) -> bool:
    """True if the campaign has a lead list of that name."""
    row = await tx.fetchone("SELECT 1 FROM lead_lists WHERE campaign_id = ? AND name = ?", (campaign, name))
    return row is not None


async def list_names(tx: Tx, campaign: str) -> list[str]:
    """The campaign's list names, oldest first."""
    return [r[0] for r in await tx.fetchall("SELECT name FROM lead_lists WHERE campaign_id = ? ORDER BY id",
                                            (campaign,))]


async def campaign_known(tx: Tx, campaign: str) -> bool:
    """True if the database has the campaign."""
    return await tx.fetchone("SELECT 1 FROM campaigns WHERE id = ?", (campaign,)) is not None


async def summaries(tx: Tx, selection: LeadFilter) -> list[ListSummary]:
    """Lead counts by list and status (leads imported before lists existed under the name '')."""
    where, params = selection.where()
    counts: dict[int | None, dict[str, int]] = {}
    for list_id, status, n in await tx.fetchall(
            f"SELECT l.list_id, l.status, COUNT(*) {_FROM} WHERE {where} GROUP BY l.list_id, l.status", params):
        counts.setdefault(list_id, {})[status] = int(n)
    lists = {r["id"]: r for r in await tx.fetchall("SELECT * FROM lead_lists WHERE campaign_id = ? ORDER BY id",
                                                     (selection.campaign,))}
    found = []
    for list_id, row in lists.items():
        if selection.list_name is not None and row["name"] != selection.list_name:
            continue
        found.append(ListSummary(row["name"], row["source"], row["created_at"], row["created_by"], row["imports"],
                                 row["rows_read"], row["duplicate_rows"], row["bad_rows"],
                                 dict(sorted(counts.get(list_id, {}).items()))))
    if None in counts:
        found.append(ListSummary("", "", None, "", 0, 0, 0, 0, dict(sorted(counts[None].items()))))
    return found


async def select_leads(tx: Tx, selection: LeadFilter, limit: int) -> list[Row]:
    """Leads matching the filter, in id order."""
    where, params = selection.where()
    return await tx.fetchall(
        f"SELECT l.id, l.number, l.status, l.priority, l.attempts, l.next_attempt_at, l.last_disposition, "
        f"l.last_attempt_at, COALESCE(ll.name, '') AS list {_FROM} WHERE {where} ORDER BY l.id LIMIT ?",
        (*params, limit))


async def count(tx: Tx, selection: LeadFilter, statuses: Sequence[LeadStatus] | None = None) -> int:
    """How many leads match (narrowed to `statuses` if given)."""
    where, params = selection.where()
    if statuses is not None:
        where += f" AND l.status IN ({','.join('?' * len(statuses))})"
        params += [s.value for s in statuses]
    row = await tx.fetchone(f"SELECT COUNT(*) {_FROM} WHERE {where}", params)
    return int(row[0]) if row else 0


async def set_status(tx: Tx, selection: LeadFilter, from_statuses: Sequence[LeadStatus], to: LeadStatus,
                     now: float, *, reset_attempts: bool = False) -> int:
    """Move matching leads whose status is one of `from_statuses` to `to`; returns how many."""
    where, params = selection.where()
    marks = ",".join("?" * len(from_statuses))
    extra = ", attempts = 0, next_attempt_at = ?" if reset_attempts else ""
    extra_params: list[Any] = [now] if reset_attempts else []
    return await tx.execute(
        f"UPDATE leads SET status = ?, updated_at = ?{extra} WHERE id IN (SELECT l.id {_FROM} WHERE {where} "
        f"AND l.status IN ({marks}))",
        (to.value, now, *extra_params, *params, *(s.value for s in from_statuses)))


async def deletable(tx: Tx, selection: LeadFilter) -> tuple[int, int]:
    """(matching leads without any history, matching leads with attempts or callbacks on record)."""
    where, params = selection.where()
    row = await tx.fetchone(
        f"SELECT SUM(CASE WHEN {_HISTORY} THEN 0 ELSE 1 END), SUM(CASE WHEN {_HISTORY} THEN 1 ELSE 0 END) "
        f"{_FROM} WHERE {where}", params)
    return (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)


_HISTORY = (f"(l.status = '{LeadStatus.DIALING.value}' OR EXISTS (SELECT 1 FROM attempts a WHERE a.lead_id = l.id) "
            "OR EXISTS (SELECT 1 FROM callbacks c WHERE c.lead_id = l.id))")


async def delete(tx: Tx, selection: LeadFilter) -> int:
    """Delete matching leads that have no history (attempts and callbacks keep theirs); returns how many."""
    where, params = selection.where()
    return await tx.execute(f"DELETE FROM leads WHERE id IN (SELECT l.id {_FROM} WHERE {where} AND NOT {_HISTORY})",
                            params)


async def audit(tx: Tx, campaign: str, action: str, detail: str, actor: str, now: float) -> None:
    """One audit row for a change to a campaign's leads."""
    await tx.execute("INSERT INTO audit (at, kind, campaign_id, verdict, rule, detail, actor) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", (now, AUDIT_KIND, campaign, "change", action, detail, actor))


# -- progress and paging (run_until_settled, `dialer scrub`) --------------------------------------------

OPEN_STATUSES = (LeadStatus.PENDING, LeadStatus.DIALING)  # a lead in one of these may still be dialled


@dataclass(frozen=True, slots=True)
class Progress:
    """The leads of some campaigns: `done` (in a final status), `open` (pending or dialing), `total`."""

    done: int
    open: int
    total: int


async def progress(tx: Tx, campaigns: Sequence[str]) -> Progress:
    """How far the leads of `campaigns` are."""
    marks = ",".join("?" * len(campaigns))
    row = await tx.fetchone(
        "SELECT SUM(CASE WHEN status IN (?, ?) THEN 0 ELSE 1 END) AS done, "
        "SUM(CASE WHEN status IN (?, ?) THEN 1 ELSE 0 END) AS open, COUNT(*) AS total "
        f"FROM leads WHERE campaign_id IN ({marks})", (*OPEN_STATUSES, *OPEN_STATUSES, *campaigns))
    if row is None:
        return Progress(0, 0, 0)
    return Progress(int(row["done"] or 0), int(row["open"] or 0), int(row["total"] or 0))


class QueuedNumber(NamedTuple):
    """A lead's number with the facts stored at import (the gate's input)."""

    lead_id: int
    number: str
    region: str
    number_type: str  # a NumberType value
    zones: str  # space-separated time zones


def _status_clause(statuses: Sequence[LeadStatus] | None) -> tuple[str, tuple[str, ...]]:
    if statuses is None:
        return "", ()
    return f"AND l.status IN ({','.join('?' * len(statuses))}) ", tuple(s.value for s in statuses)


async def count_in_campaign(tx: Tx, campaign: str, statuses: Sequence[LeadStatus] | None = None) -> int:
    """How many leads the campaign has (in `statuses`, if given)."""
    clause, params = _status_clause(statuses)
    row = await tx.fetchone(f"SELECT COUNT(*) FROM leads l WHERE l.campaign_id = ? {clause}", (campaign, *params))
    return int(row[0]) if row else 0


async def numbers_page(tx: Tx, campaign: str, after: str, limit: int,
                       statuses: Sequence[LeadStatus] | None = None) -> list[QueuedNumber]:
    """The next `limit` leads of the campaign by number after `after` (in `statuses`, if given)."""
    clause, params = _status_clause(statuses)
    # Paged along the leads' (campaign_id, number) unique index: no index of its own to keep.
    rows = await tx.fetchall(
        "SELECT l.id, l.number, p.region, p.number_type, p.zones FROM leads l "
        "JOIN phone_numbers p ON p.number = l.number WHERE l.campaign_id = ? AND l.number > ? "
        f"{clause}ORDER BY l.number LIMIT ?", (campaign, after, *params, limit))
    return [QueuedNumber(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4] or "")) for r in rows]
