"""Lead import: read and normalise a CSV (in parallel for big files), then write it in one transaction.

Normalising costs ~25 µs of CPU per number (phonenumbers), by far the largest part of an import, so
it runs in worker processes for large files, before the database is opened.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from dialer.leads.csv_source import BadRow, LeadRow, read_leads
from dialer.numbers import NumberError, PhoneNumber, normalise
from dialer.store import Database

PARALLEL_THRESHOLD = 20_000
CHUNK = 10_000


@dataclass(slots=True)
class PreparedLead:
    """A lead ready to write: the normalised number and the merged facts of every row that had it."""

    number: PhoneNumber
    line: int
    name: str | None
    priority: int
    attributes: dict[str, str]


@dataclass(slots=True)
class ImportPlan:
    """The outcome of reading a file: good leads by E.164 number, bad rows, and counts."""

    leads: dict[str, PreparedLead] = field(default_factory=dict)
    bad: list[BadRow] = field(default_factory=list)
    rows: int = 0
    merged: int = 0


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What the write did."""

    new_leads: int
    existing_leads: int
    new_contacts: int
    updated_contacts: int


def prepare_import(
    path: Path,
    default_region: str,
    *,
    number_column: str | None = None,
    workers: int | None = None,
    on_read: Callable[[int], None] | None = None,
    on_normalised: Callable[[int], None] | None = None,
) -> ImportPlan:
    """Read `path`, normalise every number, merge duplicates; nothing is written."""
    plan = ImportPlan()
    rows: list[LeadRow] = []
    for item in read_leads(path, number_column=number_column, on_progress=on_read):
        plan.rows += 1
        if isinstance(item, BadRow):
            plan.bad.append(item)
        else:
            rows.append(item)
    keys = list(dict.fromkeys((row.raw_number, row.region or default_region) for row in rows))
    results = dict(zip(keys, _normalise_all(keys, workers, on_normalised), strict=True))
    for row in rows:
        result = results[(row.raw_number, row.region or default_region)]
        if isinstance(result, str):
            plan.bad.append(BadRow(row.line, "number", result))
            continue
        existing = plan.leads.get(result.e164)
        if existing is None:
            plan.leads[result.e164] = PreparedLead(result, row.line, row.name, row.priority, row.attributes)
        else:
            plan.merged += 1
            existing.name = row.name or existing.name
            existing.priority = max(existing.priority, row.priority)
            existing.attributes.update(row.attributes)
    plan.bad.sort(key=lambda bad: bad.line)
    return plan


def _normalise_all(
    keys: list[tuple[str, str]], workers: int | None, on_normalised: Callable[[int], None] | None
) -> Iterable[PhoneNumber | str]:
    chunks = [keys[i:i + CHUNK] for i in range(0, len(keys), CHUNK)]
    workers = workers if workers is not None else (os.cpu_count() or 1)
    done = 0
    if len(keys) < PARALLEL_THRESHOLD or workers <= 1:
        for chunk in chunks:
            yield from _normalise_chunk(chunk)
            done += len(chunk)
            if on_normalised:
                on_normalised(done)
        return
    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for chunk, result in zip(chunks, pool.map(_normalise_chunk, chunks), strict=True):
            yield from result
            done += len(chunk)
            if on_normalised:
                on_normalised(done)


def _normalise_chunk(chunk: list[tuple[str, str]]) -> list[PhoneNumber | str]:
    out: list[PhoneNumber | str] = []
    for raw, region in chunk:
        try:
            out.append(normalise(raw, region))
        except NumberError as exc:
            out.append(exc.reason)
    return out


async def write_import(db: Database, campaign_id: str, plan: ImportPlan, now: float) -> ImportResult:
    """Write the plan's contacts, numbers and leads for `campaign_id` in one transaction."""
    async with db.write() as tx:
        result: ImportResult = await tx.run(_write, campaign_id, list(plan.leads.values()), now)
    return result


def _write(conn: sqlite3.Connection, campaign_id: str, leads: list[PreparedLead], now: float) -> ImportResult:
    # Runs on the database thread inside the caller's transaction: plain sqlite3, bulk statements.
    conn.execute(
        # New leads bring a finished campaign back to active (a paused one stays paused).
        "INSERT INTO campaigns (id, state, created_at, updated_at) VALUES (?, 'active', ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET state = CASE WHEN campaigns.state = 'finished' THEN 'active' "
        "ELSE campaigns.state END, updated_at = excluded.updated_at",
        (campaign_id, now, now),
    )
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS import_numbers (number TEXT PRIMARY KEY, idx INTEGER)")
    conn.execute("DELETE FROM import_numbers")
    conn.executemany(
        "INSERT INTO import_numbers (number, idx) VALUES (?, ?)",
        ((lead.number.e164, i) for i, lead in enumerate(leads)),
    )
    known = conn.execute(
        "SELECT i.idx, p.contact_id, c.name, c.attributes FROM import_numbers i "
        "JOIN phone_numbers p ON p.number = i.number JOIN contacts c ON c.id = p.contact_id"
    ).fetchall()
    updates = []
    known_idx = set()
    for idx, contact_id, old_name, old_attributes in known:
        known_idx.add(idx)
        lead = leads[idx]
        merged = {**json.loads(old_attributes), **lead.attributes}
        updates.append((lead.name or old_name, json.dumps(merged, ensure_ascii=False), now, contact_id))
    conn.executemany("UPDATE contacts SET name = ?, attributes = ?, updated_at = ? WHERE id = ?", updates)
    next_id = (conn.execute("SELECT COALESCE(MAX(id), 0) FROM contacts").fetchone()[0]) + 1
    new = [lead for i, lead in enumerate(leads) if i not in known_idx]
    ids = range(next_id, next_id + len(new))
    conn.executemany(
        "INSERT INTO contacts (id, name, attributes, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        ((cid, lead.name, json.dumps(lead.attributes, ensure_ascii=False), now, now)
         for cid, lead in zip(ids, new, strict=True)),
    )
    conn.executemany(
        "INSERT INTO phone_numbers (number, contact_id, region, number_type, zones, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        ((lead.number.e164, cid, lead.number.region, lead.number.number_type.value,
          " ".join(lead.number.zones), now) for cid, lead in zip(ids, new, strict=True)),
    )
    before = conn.execute("SELECT COUNT(*) FROM leads WHERE campaign_id = ?", (campaign_id,)).fetchone()[0]
    conn.executemany(
        "INSERT INTO leads (campaign_id, number, status, priority, attempts, next_attempt_at, created_at, "
        "updated_at) VALUES (?, ?, 'pending', ?, 0, 0, ?, ?) "
        "ON CONFLICT (campaign_id, number) DO UPDATE SET priority = excluded.priority, "
        "updated_at = excluded.updated_at",
        ((campaign_id, lead.number.e164, lead.priority, now, now) for lead in leads),
    )
    after = conn.execute("SELECT COUNT(*) FROM leads WHERE campaign_id = ?", (campaign_id,)).fetchone()[0]
    conn.execute("DELETE FROM import_numbers")
    return ImportResult(
        new_leads=after - before,
        existing_leads=len(leads) - (after - before),
        new_contacts=len(new),
        updated_contacts=len(updates),
    )
