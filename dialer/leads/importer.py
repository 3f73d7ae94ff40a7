"""The lead importer, the only one: a file (or rows from an MQTT command) into one transaction.

`import_file` streams: a thread splits the file into chunks of whole records, worker processes
parse each chunk and normalise its numbers into the tuples the database takes (number facts, JSON
attributes), and the database thread writes each chunk while the next ones are read. `import_rows`
feeds already-split rows (the MQTT `add_leads` command) through the same duplicate rule and the
same writes. Every import is recorded as a named lead list (`lead_lists`), with an audit row.

Duplicates (a number twice in the file, or already on record) follow `DuplicatePolicy`; the
report says how many and which way. Bad rows are reported by line and reason (and, with an
ErrorsFile, written out as they came in); `strict` refuses the whole file if any row is bad.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers

from dialer.leads.csv_source import BadRow, ColumnMap, LeadRow, RecordChunk, open_leads, parse_chunk, split_records
from dialer.leads.errors_file import ErrorsFile
from dialer.leads.sources import LeadSource
from dialer.numbers import NumberError, PhoneNumber, normalise
from dialer.store import Database
from dialer.store import leads as store
from dialer.store.leads import DuplicatePolicy, ImportResult

PARALLEL_THRESHOLD_BYTES = 1_000_000  # about 20,000 rows: below that, worker start-up costs more
CHUNK = 10_000
REPORT_BAD_ROWS = 1000  # bad rows kept in the report (all of them go to an errors file)
# Regions tried for a hint when a national number is not valid in its default region.
HINT_REGIONS = ("US", "CA", "GB", "IE", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "SE", "NO", "DK", "PL",
                "PT", "AU", "NZ", "IN", "MX", "BR", "ZA")
_HINTS_PER_CHUNK = 50  # a hint costs ~1 ms: a file of foreign numbers is told on its first rows
_HINT_MIN_DIGITS = 8

__all__ = ["CHUNK", "DuplicatePolicy", "ImportOptions", "ImportReport", "ImportResult", "LeadInput",
           "import_file", "import_rows"]


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How to read and merge a lead list."""

    default_region: str
    number_column: str | None = None
    duplicates: DuplicatePolicy = DuplicatePolicy.MERGE
    strict: bool = False
    list_name: str | None = None  # default: the file's name
    actor: str = ""
    hint_regions: tuple[str, ...] = HINT_REGIONS
    workers: int | None = None
    # Attribute columns every row must fill, e.g. ("debt_id",) for a campaign whose preset caps per debt.
    required_attributes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LeadInput:
    """One lead given as data rather than a file row (the MQTT add_leads command)."""

    number: str
    region: str | None = None
    name: str | None = None
    priority: int = 0
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import read and wrote (`result` is None when it refused the file: nothing written)."""

    rows: int
    numbers: int
    duplicates: int
    bad: list[BadRow]  # the first REPORT_BAD_ROWS, in line order, without their data
    bad_count: int
    result: ImportResult | None
    policy: DuplicatePolicy
    list_name: str

    @property
    def merged(self) -> int:
        """Rows whose number an earlier row (or the database) already had."""
        return self.duplicates


class ImportRefused(Exception):
    """Raised inside the import's transaction to roll it back (strict mode and a bad row)."""


# -- reading and normalising (worker side) -----------------------------------------------------------

def region_hint(raw: str, tried: str, regions: Sequence[str]) -> str | None:
    """Another region in which the national number `raw` is valid, or None."""
    digits = sum(ch.isdigit() for ch in raw)
    if raw.lstrip().startswith("+") or digits < _HINT_MIN_DIGITS:
        return None
    for region in regions:
        if region == tried:
            continue
        try:
            parsed = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return region
    return None


def _bad_number(row: LeadRow, region: str, reason: str, hint: str | None) -> BadRow:
    if hint is not None:
        code = phonenumbers.country_code_for_region(hint)
        reason = (f"not a valid {region} number, but a valid {hint} number: write it with +{code}, or import "
                  f"with --region {hint} (or a region column)")
    return BadRow(row.line, "number", reason, tuple(row.record))


def _prepare_chunk(chunk: RecordChunk, columns: ColumnMap, default_region: str, hint_regions: tuple[str, ...],
                   required: tuple[str, ...] = ()) -> tuple[int, list[tuple[Any, ...] | BadRow]]:
    """Parse a chunk of CSV records, normalise each row's number, build its record.

    Returns how many rows the chunk had and, in file order, a record (as a plain tuple in Record's
    field order: unpickling a NamedTuple calls its class for every row, on the importing process's
    busy thread) or the BadRow saying what is wrong with it.
    """
    rows = parse_chunk(chunk, columns)
    return len(rows), _normalise_rows(rows, default_region, hint_regions, required)


def _normalise_rows(rows: Sequence[LeadRow | BadRow], default_region: str, hint_regions: tuple[str, ...],
                    required: tuple[str, ...] = ()) -> list[tuple[Any, ...] | BadRow]:
    out: list[tuple[Any, ...] | BadRow] = []
    cache: dict[tuple[str, str], PhoneNumber | tuple[str, str | None]] = {}
    hints = _HINTS_PER_CHUNK
    for row in rows:
        if isinstance(row, BadRow):
            out.append(row)
            continue
        line, raw, region, name, priority, attributes, _record = row
        missing = next((a for a in required if not str(attributes.get(a, "")).strip()), None)
        if missing is not None:
            out.append(BadRow(line, missing, f"empty; the campaign's preset needs a {missing} on every lead (add a "
                              f"{missing} column)", tuple(row.record)))
            continue
        key = (raw, region or default_region)
        number = cache.get(key)
        if number is None:
            try:
                number = normalise(raw, key[1])
            except NumberError as exc:
                hint = None
                if hints > 0 and (exc.reason == "not a valid number" or exc.reason.startswith("cannot parse")):
                    hints -= 1
                    hint = region_hint(raw, key[1], hint_regions)
                number = (exc.reason, hint)
            cache[key] = number
        if isinstance(number, tuple):
            out.append(_bad_number(row, key[1], *number))
        else:
            out.append((line, number.e164, number.region, number.number_type.value, " ".join(number.zones), name,
                        priority, json.dumps(attributes)))
    return out


Part = Future[tuple[int, list[Any]]] | tuple[int, list[Any]]


class _Workers:
    """Runs `_prepare_chunk` on chunks in worker processes (or inline for small files)."""

    def __init__(self, workers: int, columns: ColumnMap, default_region: str, hint_regions: tuple[str, ...],
                 on_done: Callable[[int], None] | None, required: tuple[str, ...] = ()) -> None:
        self._workers = workers
        self._args = (columns, default_region, hint_regions, required)
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
            return self._count(_prepare_chunk(chunk, *self._args))
        future = self._pool.submit(_prepare_chunk, chunk, *self._args)
        future.add_done_callback(lambda f: self._count(f.result())
                                 if not f.cancelled() and f.exception() is None else None)
        return future

    def _count(self, part: tuple[int, list[Any]]) -> tuple[int, list[Any]]:
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


def _results(part: Part) -> tuple[int, list[Any]]:
    return part.result() if isinstance(part, Future) else part


def _feed(out: queue.Queue[Part | BaseException | None], stop: threading.Event, path: Path, start: int,
          pool: _Workers, on_read: Callable[[int], None] | None) -> None:
    """The reader thread: parts into `out`, then None (or the exception that stopped it)."""
    try:
        for chunk in split_records(path, start, CHUNK, on_read):
            if stop.is_set():
                return
            out.put(pool.submit(chunk))
        out.put(None)
    except BaseException as exc:  # handed to the writer, which rolls back
        out.put(exc)


# -- the import --------------------------------------------------------------------------------------

@dataclass(slots=True)
class _Tally:
    """Counts and duplicate bookkeeping across the chunks of one import."""

    policy: DuplicatePolicy
    errors: ErrorsFile | None
    rows: int = 0
    duplicates: int = 0
    bad_count: int = 0
    bad: list[BadRow] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def split(self, items: Sequence[Any]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """A chunk's records: numbers new to this import, and numbers an earlier chunk already wrote."""
        new: dict[str, tuple[Any, ...]] = {}
        again: dict[str, tuple[Any, ...]] = {}
        bad: list[BadRow] = []
        seen, policy, at, combine = self.seen, self.policy, store.E164, store.combine  # locals: a million rows
        duplicates = 0
        for item in items:
            if isinstance(item, BadRow):
                bad.append(item)
                continue
            e164 = item[at]
            if e164 in new:
                new[e164] = combine(new[e164], item, policy)
                duplicates += 1
            elif e164 in seen:
                again[e164] = combine(again[e164], item, policy) if e164 in again else item
                duplicates += 1
            else:
                new[e164] = item
                seen.add(e164)
        self.duplicates += duplicates
        if bad:
            if self.errors is not None:
                self.errors.write(bad)
            self.bad_count += len(bad)
            room = REPORT_BAD_ROWS - len(self.bad)
            self.bad += [b.without_record() for b in bad[:max(room, 0)]]
        return list(new.values()), list(again.values())


def _list_name(options: ImportOptions, label: str) -> str:
    if options.list_name:
        return options.list_name
    return Path(label).name if label and label != "stdin" else "stdin"


async def import_file(
    db: Database,
    campaign_id: str,
    source: LeadSource,
    options: ImportOptions,
    now: float,
    *,
    errors: ErrorsFile | None = None,
    on_read: Callable[[int], None] | None = None,
    on_normalised: Callable[[int], None] | None = None,
    on_written: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a lead list (from `sources.open_source`, as `dialer import` opens it) in one transaction;
    a file-level error anywhere, or `strict` with a bad row, rolls everything back (CsvFormatError for
    the former, `result` None for the latter)."""
    columns, start = open_leads(source.path, number_column=options.number_column, encoding=source.encoding,
                                delimiter=source.delimiter)
    if errors is not None:
        errors.start(columns.header, columns.delimiter)
    tally = _Tally(options.duplicates, errors)
    list_name = _list_name(options, source.label)
    parts: queue.Queue[Part | BaseException | None] = queue.Queue(maxsize=8)
    with _Workers(_worker_count(source.path, options.workers), columns, options.default_region,
                  options.hint_regions, on_normalised, options.required_attributes) as pool:
        stop = threading.Event()
        reader = threading.Thread(target=_feed, name="import-reader", daemon=True,
                                  args=(parts, stop, source.path, start, pool, on_read))

        async def chunks() -> Any:
            reader.start()
            while (item := await asyncio.to_thread(parts.get)) is not None:
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, Future):
                    await asyncio.wrap_future(item)
                yield _results(item)

        try:
            result = await _write(db, campaign_id, options, now, list_name, source.label, tally, chunks(),
                                  on_written)
        except BaseException:
            if errors is not None:
                errors.discard()
            raise
        finally:
            stop.set()
            while reader.is_alive():  # let a blocked reader finish its put and see the stop
                with contextlib.suppress(queue.Empty):
                    parts.get_nowait()
                reader.join(0.05)
    if errors is not None:
        errors.close()
    return ImportReport(tally.rows, len(tally.seen), tally.duplicates, sorted(tally.bad, key=lambda b: b.line),
                        tally.bad_count, result, options.duplicates, list_name)


async def import_rows(db: Database, campaign_id: str, leads: Sequence[LeadInput], options: ImportOptions,
                      now: float, *, source: str = "") -> ImportReport:
    """Import leads given as data (numbers in any form) through the same rules and writes as a file."""
    rows = [LeadRow(i + 1, lead.number, lead.region, lead.name, lead.priority, dict(lead.attributes),
                    (lead.number,)) for i, lead in enumerate(leads)]
    items = await asyncio.to_thread(_normalise_rows, rows, options.default_region, options.hint_regions,
                                    options.required_attributes)
    tally = _Tally(options.duplicates, None)
    list_name = options.list_name or source or "rows"

    async def chunks() -> Any:
        yield len(rows), items

    result = await _write(db, campaign_id, options, now, list_name, source, tally, chunks(), None)
    return ImportReport(tally.rows, len(tally.seen), tally.duplicates, tally.bad, tally.bad_count, result,
                        options.duplicates, list_name)


async def _write(db: Database, campaign_id: str, options: ImportOptions, now: float, list_name: str, label: str,
                 tally: _Tally, chunks: Any, on_written: Callable[[int], None] | None) -> ImportResult | None:
    """Every chunk into one transaction; None (rolled back) when strict mode meets a bad row."""
    try:
        async with db.write() as tx:
            begun: store.ImportStart = await tx.run(store.begin_import, campaign_id, list_name, label,
                                                    options.duplicates, options.actor, now)
            # No contact yet: only this import's own repeats can be known numbers.
            fresh_db = begun.contacts_before == 0
            written = 0
            try:
                async for count, items in chunks:
                    tally.rows += count
                    new, again = tally.split(items)
                    await tx.run(store.write_chunk, campaign_id, begun.list_id, new, again, now, options.duplicates,
                                 not fresh_db)
                    written += count
                    if on_written is not None:
                        on_written(written)
                if options.strict and tally.bad_count:
                    raise ImportRefused(f"{tally.bad_count} bad rows")
                counts = store.ImportCounts(tally.rows, len(tally.seen), tally.duplicates, tally.bad_count)
                result: ImportResult = await tx.run(store.finish_import, campaign_id, begun, counts,
                                                    options.duplicates, list_name, options.actor, now)
            finally:
                await tx.run(store.end_import, begun.cache_size)
    except ImportRefused:
        return None  # rolled back: nothing of the file was written
    return result

