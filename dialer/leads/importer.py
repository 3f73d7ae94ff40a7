"""Lead import: read a CSV, normalise every number (in worker processes for big files), merge
duplicates, and write contacts, numbers and leads in one transaction.

`import_csv` streams (the CLI uses it); `prepare_import` + `write_import` do the same in two steps
for callers that want the plan first (the demo, tests, the MQTT add_leads command).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    """Read `path`, normalise every number, merge duplicates; nothing is written."""
    plan = ImportPlan()
    merger = _Merger(plan)
    with _Normaliser(_worker_count(path, workers), on_normalised) as normaliser:
        for batch in _batches(path, default_region, number_column, normaliser, plan, on_read):
            merger.take(batch)
    plan.bad.sort(key=lambda bad: bad.line)
    return plan


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What `import_csv` read and what it wrote (`result` is None when it refused the file)."""

    rows: int
    numbers: int
    merged: int
    bad: list[BadRow]
    result: ImportResult | None


class ImportRefused(Exception):
    """Raised inside the import's transaction to roll it back (strict mode and a bad row)."""


async def import_csv(
    db: Database,
    campaign_id: str,
    path: Path,
    default_region: str,
    now: float,
    *,
    number_column: str | None = None,
    workers: int | None = None,
    strict: bool = False,
    on_read: Callable[[int], None] | None = None,
    on_normalised: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a CSV in one transaction, writing each chunk while the next ones are read and normalised.

    Three things run at once: a thread reads the file and hands chunks of distinct numbers to worker
    processes, the workers normalise them, and the database thread writes the chunks before them
    (measured: 1,000,000 rows in about the time of the slower of the two, not their sum). A CSV error
    anywhere, or `strict` with a bad row, rolls everything back.
    """
    plan = ImportPlan()
    merger = _Merger(plan)
    batches: queue.Queue[_Batch | BaseException | None] = queue.Queue(maxsize=8)
    with _Normaliser(_worker_count(path, workers), on_normalised) as normaliser:
        stop = threading.Event()
        reader = threading.Thread(target=_feed, name="import-reader", daemon=True,
                                  args=(batches, stop, path, default_region, number_column, normaliser, plan, on_read))
        result: ImportResult | None = None
        try:
            async with db.write() as tx:
                before = await tx.run(_begin, campaign_id, now)
                reader.start()
                try:
                    while (item := await asyncio.to_thread(batches.get)) is not None:
                        if isinstance(item, BaseException):
                            raise item
                        if isinstance(item.part, Future):
                            await asyncio.wrap_future(item.part)
                        fresh, merged = merger.take(item)
                        await tx.run(_write_chunk, campaign_id, fresh + merged, now)
                    if strict and plan.bad:
                        raise ImportRefused(f"{len(plan.bad)} bad rows")
                    result = await tx.run(_finish, campaign_id, before, len(plan.leads), merger.written_again)
                finally:
                    await tx.run(_end, before[0])
        except ImportRefused:
            result = None  # rolled back: nothing of the file was written
        finally:
            stop.set()
            while reader.is_alive():  # let a blocked reader finish its put and see the stop
                with contextlib.suppress(queue.Empty):
                    batches.get_nowait()
                reader.join(0.05)
    plan.bad.sort(key=lambda bad: bad.line)
    return ImportReport(plan.rows, len(plan.leads), plan.merged, plan.bad, result)


def _worker_count(path: Path, workers: int | None) -> int:
    if path.stat().st_size < PARALLEL_THRESHOLD_BYTES:
        return 1
    return workers if workers is not None else (os.cpu_count() or 1)


@dataclass(slots=True)
class _Batch:
    """Rows read together, with the normalised results of the numbers first seen among them."""

    rows: list[tuple[LeadRow, int]]  # (row, position of its (raw, region) key)
    part: Future[list[Normalised]] | list[Normalised]


def _batches(
    path: Path,
    default_region: str,
    number_column: str | None,
    normaliser: _Normaliser,
    plan: ImportPlan,
    on_read: Callable[[int], None] | None,
) -> Iterator[_Batch]:
    """Read the file; every CHUNK new numbers go to the workers and come out as one batch."""
    index: dict[tuple[str, str], int] = {}
    pending: list[tuple[str, str]] = []
    rows: list[tuple[LeadRow, int]] = []
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
        rows.append((item, position))
        if len(pending) == CHUNK:
            yield _Batch(rows, normaliser.submit(pending))
            pending, rows = [], []
    if rows or pending:
        yield _Batch(rows, normaliser.submit(pending))


def _feed(out: queue.Queue[_Batch | BaseException | None], stop: threading.Event, *args: Any) -> None:
    """The reader thread: batches into `out`, then None (or the exception that stopped it)."""
    try:
        for batch in _batches(*args):
            if stop.is_set():
                return
            out.put(batch)
        out.put(None)
    except BaseException as exc:  # handed to the writer, which rolls back
        out.put(exc)


class _Merger:
    """Turns batches, in order, into leads: a number's first row makes it, later rows merge into it."""

    def __init__(self, plan: ImportPlan) -> None:
        self._plan = plan
        self._results: list[Normalised] = []
        self.written_again = 0  # merges into a lead an earlier chunk already wrote

    def take(self, batch: _Batch) -> tuple[list[PreparedLead], list[PreparedLead]]:
        """The batch's new leads, and earlier leads its rows changed."""
        self._results.extend(batch.part.result() if isinstance(batch.part, Future) else batch.part)
        plan = self._plan
        fresh: dict[str, PreparedLead] = {}
        changed: dict[str, PreparedLead] = {}
        for row, position in batch.rows:
            result = self._results[position]
            if isinstance(result, str):
                plan.bad.append(BadRow(row.line, "number", result))
                continue
            e164 = result[0]
            existing = plan.leads.get(e164)
            if existing is None:
                number = PhoneNumber(e164, result[1], NumberType(result[2]), tuple(result[3].split()))
                plan.leads[e164] = fresh[e164] = PreparedLead(number, row.line, row.name, row.priority, row.attributes)
                continue
            plan.merged += 1
            existing.name = row.name or existing.name
            existing.priority = max(existing.priority, row.priority)
            existing.attributes.update(row.attributes)
            if e164 not in fresh:
                changed[e164] = existing
        self.written_again += len(changed)
        return list(fresh.values()), list(changed.values())


# A normalised number as it crosses the process boundary: cheap to pickle.
Normalised = tuple[str, str, str, str] | str  # (e164, region, type, zones) or the reason it is bad


class _Normaliser:
    """Normalises chunks of (raw, region) in worker processes (or inline for small files)."""

    def __init__(self, workers: int, on_done: Callable[[int], None] | None) -> None:
        self._workers = workers
        self._on_done = on_done
        self._pool: ProcessPoolExecutor | None = None
        self._done = 0
        self._lock = threading.Lock()

    def __enter__(self) -> _Normaliser:
        if self._workers > 1:
            context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
            self._pool = ProcessPoolExecutor(max_workers=self._workers, mp_context=context)
            # Start the workers now, from this thread, before any other thread of the import exists:
            # a fork copies only the forking thread.
            self._pool.submit(int).result()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def submit(self, chunk: list[tuple[str, str]]) -> Future[list[Normalised]] | list[Normalised]:
        """Normalise one chunk: a future of its results (workers) or the results (inline)."""
        if self._pool is None:
            return self._count(_normalise_chunk(chunk))
        future = self._pool.submit(_normalise_chunk, chunk)
        future.add_done_callback(lambda f: self._count(f.result()) if not f.cancelled() else None)
        return future

    def _count(self, part: list[Normalised]) -> list[Normalised]:
        with self._lock:
            self._done += len(part)
            done = self._done
        if self._on_done is not None:
            self._on_done(done)
        return part


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
    """Write an in-memory plan's contacts, numbers and leads for `campaign_id` in one transaction."""
    leads = list(plan.leads.values())
    async with db.write() as tx:
        before = await tx.run(_begin, campaign_id, now)
        try:
            await tx.run(_write_chunk, campaign_id, leads, now)
            result: ImportResult = await tx.run(_finish, campaign_id, before, len(leads), 0)
        finally:
            await tx.run(_end, before[0])
    return result


# The functions below run on the database thread inside the caller's transaction: plain sqlite3.

def _begin(conn: sqlite3.Connection, campaign_id: str, now: float) -> tuple[int, int, int]:
    """Campaign row, a large page cache for the import; returns counts to compare at the end."""
    conn.execute(
        # New leads bring a finished campaign back to active (a paused one stays paused).
        "INSERT INTO campaigns (id, state, created_at, updated_at) VALUES (?, 'active', ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET state = CASE WHEN campaigns.state = 'finished' THEN 'active' "
        "ELSE campaigns.state END, updated_at = excluded.updated_at",
        (campaign_id, now, now),
    )
    (cache_size,) = conn.execute("PRAGMA cache_size").fetchone()
    # The indexes of a big import stay in memory for its length (measured: 2x faster than the default).
    conn.execute("PRAGMA cache_size = -262144")
    (leads,) = conn.execute("SELECT COUNT(*) FROM leads WHERE campaign_id = ?", (campaign_id,)).fetchone()
    (contacts,) = conn.execute("SELECT COUNT(*) FROM contacts").fetchone()
    return int(cache_size), int(leads), int(contacts)


def _end(conn: sqlite3.Connection, cache_size: int) -> None:
    conn.execute(f"PRAGMA cache_size = {int(cache_size)}")


def _finish(conn: sqlite3.Connection, campaign_id: str, before: tuple[int, int, int], numbers: int,
            written_again: int) -> ImportResult:
    _, leads_before, contacts_before = before
    (leads,) = conn.execute("SELECT COUNT(*) FROM leads WHERE campaign_id = ?", (campaign_id,)).fetchone()
    (contacts,) = conn.execute("SELECT COUNT(*) FROM contacts").fetchone()
    new_leads = leads - leads_before
    new_contacts = contacts - contacts_before
    return ImportResult(new_leads=new_leads, existing_leads=numbers - new_leads, new_contacts=new_contacts,
                        updated_contacts=numbers - new_contacts)


def _write_chunk(conn: sqlite3.Connection, campaign_id: str, leads: list[PreparedLead], now: float) -> None:
    """Contacts, numbers and leads of one chunk; numbers already known merge into their contact."""
    # Sorted inserts touch each B-tree page once per chunk instead of at random.
    leads = sorted(leads, key=lambda lead: lead.number.e164)
    known: dict[str, tuple[int, str | None, str]] = {}
    for start in range(0, len(leads), 500):
        part = [lead.number.e164 for lead in leads[start:start + 500]]
        marks = ",".join("?" * len(part))
        for number, contact_id, name, attributes in conn.execute(
            f"SELECT p.number, p.contact_id, c.name, c.attributes FROM phone_numbers p "
            f"JOIN contacts c ON c.id = p.contact_id WHERE p.number IN ({marks})", part,
        ):
            known[number] = (contact_id, name, attributes)
    updates = []
    new = []
    for lead in leads:
        old = known.get(lead.number.e164)
        if old is None:
            new.append(lead)
            continue
        contact_id, old_name, old_attributes = old
        merged = {**json.loads(old_attributes), **lead.attributes}
        updates.append((lead.name or old_name, json.dumps(merged), now, contact_id))
    conn.executemany("UPDATE contacts SET name = ?, attributes = ?, updated_at = ? WHERE id = ?", updates)
    next_id = (conn.execute("SELECT COALESCE(MAX(id), 0) FROM contacts").fetchone()[0]) + 1
    ids = range(next_id, next_id + len(new))
    conn.executemany(
        "INSERT INTO contacts (id, name, attributes, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        ((cid, lead.name, json.dumps(lead.attributes), now, now) for cid, lead in zip(ids, new, strict=True)),
    )
    conn.executemany(
        "INSERT INTO phone_numbers (number, contact_id, region, number_type, zones, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        ((lead.number.e164, cid, lead.number.region, lead.number.number_type.value,
          " ".join(lead.number.zones), now) for cid, lead in zip(ids, new, strict=True)),
    )
    conn.executemany(
        "INSERT INTO leads (campaign_id, number, status, priority, attempts, next_attempt_at, created_at, "
        "updated_at) VALUES (?, ?, 'pending', ?, 0, 0, ?, ?) "
        "ON CONFLICT (campaign_id, number) DO UPDATE SET priority = excluded.priority, "
        "updated_at = excluded.updated_at",
        ((campaign_id, lead.number.e164, lead.priority, now, now) for lead in leads),
    )
