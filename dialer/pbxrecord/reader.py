"""Read the CSV file cdr_custom writes for the dialer (config/asterisk/cdr_custom.conf), bounded.

Each line is one CDR: `CSV_QUOTE` wraps every value in double quotes and doubles a quote inside
(funcs/func_strings.c), so the csv module reads it as written. Only the tail of the file (and of
the newest rotated one, `<name>.1`) is read, and only records that ended after `since`: the file
grows by a line per call and is pruned by logrotate, the dialer needs the last minutes of it.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dialer.pbxrecord.fields import FIELDS, LEGACY_COLUMNS

DEFAULT_MAX_READ_BYTES = 64 << 20  # per file: ~300,000 records of ~200 bytes
_ERRORS_KEPT = 5
_COLUMNS = tuple(name for name, _ in FIELDS)


class RecordLineError(ValueError):
    """A line that is not a record of the dialer's mapping; the message names the field."""


@dataclass(frozen=True, slots=True)
class RecordEntry:
    """One CDR line: one channel's record (a Local pair gives two: `<call id>` and `<call id>-2`)."""

    uniqueid: str
    linkedid: str
    disposition: str  # ANSWERED, NO ANSWER, BUSY, CONGESTION, FAILED (ast_cdr_disp2str)
    start: float
    answer: float | None  # None when the channel was never answered
    end: float
    billsec: float
    call_id: str  # CDR(dialer_call_id): set by the dialplan once the call was answered
    recording: str
    amd: str
    optout: str
    callback: str
    queue: str
    abandoned: bool
    survey: str = ""  # CDR(dialer_survey): `question:keys:status:epoch` per answer, `;`-separated

    @property
    def key(self) -> str:
        """The dialer's call id this record belongs to (linkedid is the originated channel's Uniqueid,
        which is the call id the dialer chose with ChannelId)."""
        return self.call_id or self.linkedid or self.uniqueid


def _time(column: str, text: str, *, optional: bool = False) -> float | None:
    try:
        value = float(text)
    except ValueError:
        raise RecordLineError(f"{column}: {text[:40]!r} is not a unix time") from None
    if not math.isfinite(value) or value < 0:
        raise RecordLineError(f"{column}: {text[:40]!r} is not a unix time")
    if value == 0:
        if optional:
            return None
        raise RecordLineError(f"{column}: empty (0)")
    return value


def parse_line(line: str) -> RecordEntry:
    """One line of the file -> RecordEntry; RecordLineError names the field that is wrong."""
    try:
        rows = list(csv.reader([line], strict=True))
    except csv.Error as exc:
        raise RecordLineError(f"not a CSV line ({exc})") from None
    if len(rows) != 1:
        raise RecordLineError("not one CSV line")
    values = rows[0]
    if len(values) == LEGACY_COLUMNS:
        values = [*values, ""]
    if len(values) != len(_COLUMNS):
        raise RecordLineError(f"{len(values)} fields, expected {len(_COLUMNS)} (the mapping of "
                              "config/asterisk/cdr_custom.conf)")
    row = dict(zip(_COLUMNS, values, strict=True))
    if not row["uniqueid"]:
        raise RecordLineError("uniqueid: empty")
    billsec_text = row["billsec"] or "0"
    try:
        billsec = float(billsec_text)
    except ValueError:
        raise RecordLineError(f"billsec: {billsec_text[:40]!r} is not a number") from None
    if not math.isfinite(billsec) or billsec < 0:
        raise RecordLineError(f"billsec: {billsec_text[:40]!r} is not a number of seconds")
    start = _time("start", row["start"])
    end = _time("end", row["end"])
    assert start is not None
    assert end is not None
    return RecordEntry(
        uniqueid=row["uniqueid"], linkedid=row["linkedid"], disposition=row["disposition"].strip().upper(),
        start=start, answer=_time("answer", row["answer"] or "0", optional=True), end=end, billsec=billsec,
        call_id=row["dialer_call_id"], recording=row["dialer_recording"], amd=row["dialer_amd"].strip().upper(),
        optout=row["dialer_optout"], callback=row["dialer_callback"], queue=row["dialer_queue"].strip().upper(),
        abandoned=row["dialer_abandoned"].strip() == "1", survey=row["dialer_survey"],
    )


@dataclass(slots=True)
class RecordScan:
    """What one read of the record found."""

    path: Path
    exists: bool = False
    files: list[Path] = field(default_factory=list)
    entries: int = 0  # records read (ended after `since`)
    error_count: int = 0
    errors: list[str] = field(default_factory=list)  # the first few: "<file>:<line>: <field>: <what>"
    newest_end: float | None = None
    by_call: dict[str, list[RecordEntry]] = field(default_factory=dict)


def _tail_lines(path: Path, max_bytes: int) -> Iterable[tuple[int | None, str]]:
    """(line number or None when the head was skipped, line) of the last `max_bytes` of the file."""
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        skipped = size > max_bytes
        if skipped:
            fh.seek(size - max_bytes)
            fh.readline()  # a partial line
        data = fh.read(max_bytes)
    # A record being appended right now has no newline yet: leave it for the next read.
    complete, _, _ = data.rpartition(b"\n")
    for number, raw in enumerate(complete.split(b"\n"), start=1):
        if raw.strip():
            yield (None if skipped else number), raw.decode("utf-8", errors="replace").rstrip("\r")


def scan(path: Path, since: float | None = None, max_bytes: int = DEFAULT_MAX_READ_BYTES) -> RecordScan:
    """Read the record at `path` (and `<path>.1`, rotated by logrotate): every call's entries that
    ended at or after `since`. OSError when a file exists but cannot be read."""
    result = RecordScan(path)
    rotated = path.with_name(path.name + ".1")
    for candidate in (rotated, path):
        if not candidate.exists():
            continue
        result.exists = result.exists or candidate == path
        result.files.append(candidate)
        for number, line in _tail_lines(candidate, max_bytes):
            try:
                entry = parse_line(line)
            except RecordLineError as exc:
                result.error_count += 1
                if len(result.errors) < _ERRORS_KEPT:
                    where = f"{candidate}:{number}" if number is not None else f"{candidate} (tail)"
                    result.errors.append(f"{where}: {exc}")
                continue
            if since is not None and entry.end < since:
                continue
            result.entries += 1
            if result.newest_end is None or entry.end > result.newest_end:
                result.newest_end = entry.end
            result.by_call.setdefault(entry.key, []).append(entry)
    return result


@dataclass(frozen=True, slots=True)
class PbxRecord:
    """Where Asterisk's record is and how much of it to read ([pbx_record] in dialer.toml)."""

    path: Path
    grace_s: float
    max_read_bytes: int = DEFAULT_MAX_READ_BYTES

    def scan(self, since: float | None) -> RecordScan:
        """Read the entries that ended at or after `since` (OSError if unreadable)."""
        return scan(self.path, since, self.max_read_bytes)
