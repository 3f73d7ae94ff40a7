"""Lead import: read and normalise a CSV (in parallel for big files), then write it in one transaction.

Normalising costs ~25 µs of CPU per number (phonenumbers), by far the largest part of an import, so
it runs in worker processes for large files, before the database is opened.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from dialer.leads.csv_source import BadRow, LeadRow, read_leads
from dialer.numbers import NumberError, NumberType, PhoneNumber, normalise
from dialer.store import Database

PARALLEL_THRESHOLD_BYTES = 1_000_000  # about 20,000 rows: below that, worker start-up costs more
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
    """Read `path`, normalise every number, merge duplicates; nothing is written.

    Reading and normalising overlap: each chunk of distinct numbers goes to a worker process as
    soon as it is read.
    """
    plan = ImportPlan()
    rows: list[tuple[LeadRow, int]] = []
    index: dict[tuple[str, str], int] = {}
    pending: list[tuple[str, str]] = []
    count = workers if workers is not None else (os.cpu_count() or 1)
    if path.stat().st_size < PARALLEL_THRESHOLD_BYTES:
        count = 1
    with _Normaliser(count, on_normalised) as normaliser:
        for item in read_leads(path, number_column=number_column, on_progress=on_read):
            plan.rows += 1
            if isinstance(item, BadRow):
                plan.bad.append(item)
                continue
            key = (item.raw_number, item.region or default_region)
            position = index.get(key)
            if position is None:
                position = index[key] = len(index)
                pending.append(key)
                if len(pending) == CHUNK:
                    normaliser.submit(pending)
                    pending = []
            rows.append((item, position))
        normaliser.submit(pending)
        results = normaliser.results()
    for row, position in rows:
        result = results[position]
        if isinstance(result, str):
            plan.bad.append(BadRow(row.line, "number", result))
            continue
        existing = plan.leads.get(result[0])
        if existing is None:
            number = PhoneNumber(result[0], result[1], NumberType(result[2]), tuple(result[3].split()))
            plan.leads[result[0]] = PreparedLead(number, row.line, row.name, row.priority, row.attributes)
        else:
            plan.merged += 1
            existing.name = row.name or existing.name
            existing.priority = max(existing.priority, row.priority)
            existing.attributes.update(row.attributes)
    plan.bad.sort(key=lambda bad: bad.line)
    return plan


# A normalised number as it crosses the process boundary: cheap to pickle.
Normalised = tuple[str, str, str, str] | str  # (e164, region, type, zones) or the reason it is bad


class _Normaliser:
    """Normalises chunks of (raw, region) in worker processes (or inline for small files)."""

    def __init__(self, workers: int | None, on_done: Callable[[int], None] | None) -> None:
        self._workers = workers or 1
        self._on_done = on_done
        self._pool: ProcessPoolExecutor | None = None
        self._parts: list[Future[list[Normalised]] | list[Normalised]] = []
        self._done = 0

    def __enter__(self) -> _Normaliser:
        if self._workers > 1:
            context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
            self._pool = ProcessPoolExecutor(max_workers=self._workers, mp_context=context)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def submit(self, chunk: list[tuple[str, str]]) -> None:
        """Queue one chunk (in order)."""
        if not chunk:
            return
        if self._pool is None:
            self._parts.append(self._count(_normalise_chunk(chunk)))
        else:
            future = self._pool.submit(_normalise_chunk, chunk)
            future.add_done_callback(lambda f: self._count(f.result()) if not f.cancelled() else None)
            self._parts.append(future)

    def _count(self, part: list[Normalised]) -> list[Normalised]:
        self._done += len(part)
        if self._on_done is not None:
            self._on_done(self._done)
        return part

    def results(self) -> list[Normalised]:
        """Every result, in submission order."""
        out: list[Normalised] = []
        for part in self._parts:
            out.extend(part.result() if isinstance(part, Future) else part)
        return out


def _normalise_chunk(chunk: list[tuple[str, str]]) -> list[Normalised]:
    out: list[Normalised] = []
    for raw, region in chunk:
        try:
            number = normalise(raw, region)
        except NumberError as exc:
            out.append(exc.reason)
        else:
            out.append((number.e164, number.region, number.number_type.value, " ".join(number.zones)))
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
    # Sorted inserts append to the B-trees instead of splitting pages all over them, and a large
    # page cache keeps the indexes in memory for the length of the import (measured: 2x faster).
    leads = sorted(leads, key=lambda lead: lead.number.e164)
    (cache_size,) = conn.execute("PRAGMA cache_size").fetchone()
    conn.execute("PRAGMA cache_size = -262144")
    try:
        return _write_sorted(conn, campaign_id, leads, now)
    finally:
        conn.execute(f"PRAGMA cache_size = {int(cache_size)}")


def _write_sorted(conn: sqlite3.Connection, campaign_id: str, leads: list[PreparedLead], now: float) -> ImportResult:
    known: list[tuple[int, int, str | None, str]] = []
    if conn.execute("SELECT 1 FROM phone_numbers LIMIT 1").fetchone() is not None:
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
        conn.execute("DELETE FROM import_numbers")
    updates = []
    known_idx = set()
    for idx, contact_id, old_name, old_attributes in known:
        known_idx.add(idx)
        lead = leads[idx]
        merged = {**json.loads(old_attributes), **lead.attributes}
        updates.append((lead.name or old_name, json.dumps(merged), now, contact_id))
    conn.executemany("UPDATE contacts SET name = ?, attributes = ?, updated_at = ? WHERE id = ?", updates)
    next_id = (conn.execute("SELECT COALESCE(MAX(id), 0) FROM contacts").fetchone()[0]) + 1
    new = [lead for i, lead in enumerate(leads) if i not in known_idx]
    ids = range(next_id, next_id + len(new))
    conn.executemany(
        "INSERT INTO contacts (id, name, attributes, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        ((cid, lead.name, json.dumps(lead.attributes), now, now)
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
    return ImportResult(
        new_leads=after - before,
        existing_leads=len(leads) - (after - before),
        new_contacts=len(new),
        updated_contacts=len(updates),
    )
