"""Lead import: read a CSV, normalise every number (in worker processes for big files), merge
duplicates, and write contacts, numbers and leads in one transaction.

`import_csv` streams (the CLI uses it): a thread reads the file, worker processes normalise each
chunk of rows into the tuples the database takes (number facts, JSON attributes), and the database
thread writes every chunk while the next ones are read. `prepare_import` + `write_import` do the
same in two steps for callers that want the plan first (the demo, tests, the MQTT add_leads command).
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
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from dialer.leads.csv_source import BadRow, ColumnMap, RecordChunk, open_leads, parse_chunk, split_records
from dialer.numbers import NumberError, NumberType, PhoneNumber, normalise
from dialer.store import Database

PARALLEL_THRESHOLD_BYTES = 1_000_000  # about 20,000 rows: below that, worker start-up costs more
CHUNK = 10_000


class Record(NamedTuple):
    """One good row as the database takes it (built in the worker processes)."""

    line: int
    e164: str
    region: str
    number_type: str
    zones: str
    name: str | None
    priority: int
    attributes: str  # JSON object


@dataclass(slots=True)
class PreparedLead:
    """A lead ready to write: the normalised number and the merged facts of every row that had it."""

    number: PhoneNumber
    line: int
    name: str | None
    priority: int
    attributes: dict[str, str]

    def record(self) -> Record:
        """This lead as a database record."""
        number = self.number
        return Record(self.line, number.e164, number.region, number.number_type.value, " ".join(number.zones),
                      self.name, self.priority, json.dumps(self.attributes))


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


# Record field positions, for the plain tuples the workers send back.
_LINE, _E164, _REGION, _TYPE, _ZONES, _NAME, _PRIORITY, _ATTRIBUTES = range(8)


def merge(first: Record, later: Record) -> Record:
    """Two rows of one number: the later name (if any) wins, the higher priority, attributes merged."""
    attributes = {**json.loads(first[_ATTRIBUTES]), **json.loads(later[_ATTRIBUTES])}
    return Record(first[_LINE], first[_E164], first[_REGION], first[_TYPE], first[_ZONES],
                  later[_NAME] or first[_NAME], max(first[_PRIORITY], later[_PRIORITY]), json.dumps(attributes))


# -- reading and normalising ------------------------------------------------------------------------

def _prepare_chunk(chunk: RecordChunk, columns: ColumnMap, default_region: str) -> tuple[int, list[Record | BadRow]]:
    """Worker side: parse a chunk of CSV records, normalise each row's number, build its record.

    Returns how many rows the chunk had and, in file order, a record (as a plain tuple in Record's
    field order: unpickling a NamedTuple calls its class for every row, on the importing process's
    busy thread) or the BadRow saying what is wrong with it.
    """
    rows = parse_chunk(chunk, columns)
    out: list[Record | BadRow] = []
    cache: dict[tuple[str, str], PhoneNumber | str] = {}
    for row in rows:
        if isinstance(row, BadRow):
            out.append(row)
            continue
        line, raw, region, name, priority, attributes = row
        key = (raw, region or default_region)
        number = cache.get(key)
        if number is None:
            try:
                number = normalise(raw, key[1])
            except NumberError as exc:
                number = exc.reason
            cache[key] = number
        if isinstance(number, str):
            out.append(BadRow(line, "number", number))
        else:
            out.append((line, number.e164, number.region, number.number_type.value,  # type: ignore[arg-type]
                        " ".join(number.zones), name, priority, json.dumps(attributes)))
    return len(rows), out


class _Workers:
    """Runs `_prepare_chunk` on chunks in worker processes (or inline for small files)."""

    def __init__(self, workers: int, columns: ColumnMap, default_region: str,
                 on_done: Callable[[int], None] | None) -> None:
        self._workers = workers
        self._columns = columns
        self._region = default_region
        self._on_done = on_done
        self._pool: ProcessPoolExecutor | None = None
        self._done = 0
        self._lock = threading.Lock()

    def __enter__(self) -> _Workers:
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

    def submit(self, chunk: RecordChunk) -> Part:
        """Prepare one chunk: a future of its results (workers) or the results (inline)."""
        if self._pool is None:
            return self._count(_prepare_chunk(chunk, self._columns, self._region))
        future = self._pool.submit(_prepare_chunk, chunk, self._columns, self._region)
        future.add_done_callback(lambda f: self._count(f.result())
                                 if not f.cancelled() and f.exception() is None else None)
        return future

    def _count(self, part: tuple[int, list[Record | BadRow]]) -> tuple[int, list[Record | BadRow]]:
        with self._lock:
            self._done += part[0]
            done = self._done
        if self._on_done is not None:
            self._on_done(done)
        return part


def _worker_count(path: Path, workers: int | None) -> int:
    if path.stat().st_size < PARALLEL_THRESHOLD_BYTES:
        return 1
    return workers if workers is not None else (os.cpu_count() or 1)


Part = Future[tuple[int, list[Record | BadRow]]] | tuple[int, list[Record | BadRow]]


def _chunks(path: Path, start: int, workers: _Workers, on_read: Callable[[int], None] | None) -> Iterator[Part]:
    """Split the file into chunks of whole records and hand each to the workers, in order."""
    for chunk in split_records(path, start, CHUNK, on_read):
        yield workers.submit(chunk)


def _results(part: Part) -> tuple[int, list[Record | BadRow]]:
    return part.result() if isinstance(part, Future) else part


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
    columns, start = open_leads(path, number_column=number_column)
    with _Workers(_worker_count(path, workers), columns, default_region, on_normalised) as pool:
        parts = list(_chunks(path, start, pool, on_read))
        for part in parts:
            rows, items = _results(part)
            plan.rows += rows
            for item in items:
                if isinstance(item, BadRow):
                    plan.bad.append(item)
                    continue
                record = Record(*item)
                existing = plan.leads.get(record.e164)
                if existing is None:
                    number = PhoneNumber(record.e164, record.region, NumberType(record.number_type),
                                         tuple(record.zones.split()))
                    plan.leads[record.e164] = PreparedLead(number, record.line, record.name, record.priority,
                                                           json.loads(record.attributes))
                    continue
                plan.merged += 1
                existing.name = record.name or existing.name
                existing.priority = max(existing.priority, record.priority)
                existing.attributes.update(json.loads(record.attributes))
    plan.bad.sort(key=lambda bad: bad.line)
    return plan


# -- streaming import --------------------------------------------------------------------------------

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

    A CSV error anywhere, or `strict` with a bad row, rolls everything back.
    """
    rows = 0
    bad: list[BadRow] = []
    seen: set[str] = set()
    merged = 0
    parts: queue.Queue[Part | BaseException | None] = queue.Queue(maxsize=8)
    result: ImportResult | None = None
    columns, start = open_leads(path, number_column=number_column)
    with _Workers(_worker_count(path, workers), columns, default_region, on_normalised) as pool:
        stop = threading.Event()
        reader = threading.Thread(target=_feed, name="import-reader", daemon=True,
                                  args=(parts, stop, path, start, pool, on_read))
        try:
            async with db.write() as tx:
                before = await tx.run(_begin, campaign_id, now)
                fresh_db = before[2] == 0  # no contact yet: only this file's own repeats can be known
                reader.start()
                try:
                    while (item := await asyncio.to_thread(parts.get)) is not None:
                        if isinstance(item, BaseException):
                            raise item
                        if isinstance(item, Future):
                            await asyncio.wrap_future(item)
                        count, items = _results(item)
                        rows += count
                        new, again = _split(items, seen, bad)
                        merged += again[1]
                        await tx.run(_write_chunk, campaign_id, new, now, again[0], not fresh_db)
                    if strict and bad:
                        raise ImportRefused(f"{len(bad)} bad rows")
                    result = await tx.run(_finish, campaign_id, before, len(seen))
                finally:
                    await tx.run(_end, before[0])
        except ImportRefused:
            result = None  # rolled back: nothing of the file was written
        finally:
            stop.set()
            while reader.is_alive():  # let a blocked reader finish its put and see the stop
                with contextlib.suppress(queue.Empty):
                    parts.get_nowait()
                reader.join(0.05)
    bad.sort(key=lambda row: row.line)
    return ImportReport(rows, len(seen), merged, bad, result)


def _split(items: Sequence[Record | BadRow], seen: set[str], bad: list[BadRow]
           ) -> tuple[list[Record], tuple[list[Record], int]]:
    """A chunk's records: numbers new to this import, and (numbers an earlier chunk wrote, repeats)."""
    new: dict[str, Record] = {}
    again: dict[str, Record] = {}
    repeats = 0
    for item in items:
        if isinstance(item, BadRow):
            bad.append(item)
            continue
        e164 = item[_E164]
        if e164 in new:
            new[e164] = merge(new[e164], item)
            repeats += 1
        elif e164 in seen:
            again[e164] = merge(again[e164], item) if e164 in again else item
            repeats += 1
        else:
            new[e164] = item
            seen.add(e164)
    return list(new.values()), (list(again.values()), repeats)


def _feed(out: queue.Queue[Part | BaseException | None], stop: threading.Event, *args: Any) -> None:
    """The reader thread: parts into `out`, then None (or the exception that stopped it)."""
    try:
        for part in _chunks(*args):
            if stop.is_set():
                return
            out.put(part)
        out.put(None)
    except BaseException as exc:  # handed to the writer, which rolls back
        out.put(exc)


# -- writing: these run on the database thread inside the caller's transaction (plain sqlite3) ------

async def write_import(db: Database, campaign_id: str, plan: ImportPlan, now: float) -> ImportResult:
    """Write an in-memory plan's contacts, numbers and leads for `campaign_id` in one transaction."""
    records = [lead.record() for lead in plan.leads.values()]
    async with db.write() as tx:
        before = await tx.run(_begin, campaign_id, now)
        try:
            await tx.run(_write_chunk, campaign_id, records, now)
            result: ImportResult = await tx.run(_finish, campaign_id, before, len(records))
        finally:
            await tx.run(_end, before[0])
    return result


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


def _finish(conn: sqlite3.Connection, campaign_id: str, before: tuple[int, int, int], numbers: int) -> ImportResult:
    _, leads_before, contacts_before = before
    (leads,) = conn.execute("SELECT COUNT(*) FROM leads WHERE campaign_id = ?", (campaign_id,)).fetchone()
    (contacts,) = conn.execute("SELECT COUNT(*) FROM contacts").fetchone()
    new_leads = leads - leads_before
    new_contacts = contacts - contacts_before
    return ImportResult(new_leads=new_leads, existing_leads=numbers - new_leads, new_contacts=new_contacts,
                        updated_contacts=numbers - new_contacts)


def _write_chunk(conn: sqlite3.Connection, campaign_id: str, records: list[Record], now: float,
                 again: Sequence[Record] = (), lookup_all: bool = True) -> None:
    """Contacts, numbers and leads of one chunk; numbers already known merge into their contact.

    `again` are numbers an earlier chunk of the same file wrote (their lead keeps the higher priority);
    `lookup_all` False narrows the lookup of known numbers to them (an import into an empty database).
    """
    # Sorted inserts touch each B-tree page once per chunk instead of at random.
    records = sorted([*records, *again], key=lambda record: record[_E164])
    lookup = records if lookup_all else again
    known: dict[str, tuple[int, str | None, str]] = {}
    for start in range(0, len(lookup), 500):
        part = [record[_E164] for record in lookup[start:start + 500]]
        marks = ",".join("?" * len(part))
        for number, contact_id, name, attributes in conn.execute(
            f"SELECT p.number, p.contact_id, c.name, c.attributes FROM phone_numbers p "
            f"JOIN contacts c ON c.id = p.contact_id WHERE p.number IN ({marks})", part,
        ):
            known[number] = (contact_id, name, attributes)
    updates = []
    new = []
    for record in records:
        old = known.get(record[_E164])
        if old is None:
            new.append(record)
            continue
        contact_id, old_name, old_attributes = old
        attributes = {**json.loads(old_attributes), **json.loads(record[_ATTRIBUTES])}
        updates.append((record[_NAME] or old_name, json.dumps(attributes), now, contact_id))
    conn.executemany("UPDATE contacts SET name = ?, attributes = ?, updated_at = ? WHERE id = ?", updates)
    next_id = (conn.execute("SELECT COALESCE(MAX(id), 0) FROM contacts").fetchone()[0]) + 1
    ids = range(next_id, next_id + len(new))
    conn.executemany(
        "INSERT INTO contacts (id, name, attributes, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        [(cid, r[_NAME], r[_ATTRIBUTES], now, now) for cid, r in zip(ids, new, strict=True)],
    )
    conn.executemany(
        "INSERT INTO phone_numbers (number, contact_id, region, number_type, zones, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(r[_E164], cid, r[_REGION], r[_TYPE], r[_ZONES], now) for cid, r in zip(ids, new, strict=True)],
    )
    repeated = {r[_E164] for r in again}
    # A re-import sets the file's priority; a number repeated within the file keeps its highest.
    conn.executemany(
        "INSERT INTO leads (campaign_id, number, status, priority, attempts, next_attempt_at, created_at, "
        "updated_at) VALUES (?, ?, 'pending', ?, 0, 0, ?, ?) "
        "ON CONFLICT (campaign_id, number) DO UPDATE SET priority = CASE WHEN ? THEN "
        "MAX(leads.priority, excluded.priority) ELSE excluded.priority END, updated_at = excluded.updated_at",
        [(campaign_id, r[_E164], r[_PRIORITY], now, now, r[_E164] in repeated) for r in records],
    )
