"""Read a lead list (CSV with a header row) into plain rows, naming the line of every problem.

The file's bytes are split into chunks on record boundaries and decoded in the worker processes,
so the encoding must keep `\n`, `\r`, `"` and the delimiter single ASCII bytes (UTF-8 and the
single-byte code pages do; `sources.py` turns anything else, UTF-16 from Excel above all, into
UTF-8 first). A field longer than FIELD_LIMIT rejects its row, not the file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

# The csv module's own limit (128 KiB) raises for the whole file; the reader gets room to finish
# the record, and _row rejects the row instead (the chunk is in memory already either way).
FIELD_LIMIT = 131_072
csv.field_size_limit(2**31 - 1)
DELIMITERS = (",", ";", "\t", "|")
# The two columns an errors file adds (see errors_file.py): never contact attributes, so a fixed
# errors file imports as it is.
ERROR_COLUMNS = ("import_line", "import_error")

NUMBER_COLUMNS = (
    "number", "phone", "phone_number", "phonenumber", "telephone", "tel", "msisdn", "mobile", "e164",
)
NAME_COLUMNS = ("name", "full_name", "fullname", "contact_name")
FIRST_NAME_COLUMNS = ("first_name", "firstname", "given_name")
LAST_NAME_COLUMNS = ("last_name", "lastname", "surname", "family_name")
PRIORITY_COLUMNS = ("priority",)
REGION_COLUMNS = ("region", "country")


class CsvFormatError(Exception):
    """The file as a whole cannot be read (no header, no number column, not its encoding, ...)."""


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that was skipped: its line number, the field at fault, why, and its fields as read."""

    line: int
    field: str
    reason: str
    record: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"

    def without_record(self) -> BadRow:
        """The same problem without the row's data (what a report keeps once the row is written out)."""
        return BadRow(self.line, self.field, self.reason)


class LeadRow(NamedTuple):
    """One usable row: the raw number and what else the file says about the person (a tuple: a big
    import makes a million of them and sends them to worker processes)."""

    line: int
    raw_number: str
    region: str | None
    name: str | None
    priority: int
    attributes: dict[str, str]
    record: Sequence[str] = ()  # the fields as read (for an errors file if the number proves bad)


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Which header column holds what; every other column becomes a contact attribute."""

    number: int
    name: int | None
    first_name: int | None
    last_name: int | None
    priority: int | None
    region: int | None
    attributes: tuple[tuple[int, str], ...]
    width: int
    header: tuple[str, ...] = ()
    delimiter: str = ","
    encoding: str = "utf-8"


def map_columns(header: list[str], number_column: str | None = None, *, delimiter: str = ",",
                encoding: str = "utf-8") -> ColumnMap:
    """Find the number, name, priority and region columns by header name."""
    keys = [_key(h) for h in header]
    if not any(keys):
        raise CsvFormatError("line 1: header: the first line must name the columns")
    duplicates = sorted({k for k in keys if k and keys.count(k) > 1})
    if duplicates:
        raise CsvFormatError(f"line 1: header: column names repeat: {', '.join(duplicates)}")

    def find(names: tuple[str, ...]) -> int | None:
        for name in names:
            if name in keys:
                return keys.index(name)
        return None

    number = find((_key(number_column),)) if number_column else find(NUMBER_COLUMNS)
    if number is None:
        wanted = repr(number_column) if number_column else "one of " + ", ".join(NUMBER_COLUMNS)
        found = ", ".join(repr(h[:40]) for h in header[:12]) + (", ..." if len(header) > 12 else "")
        hint = ""
        if len(header) == 1 and any(d in header[0] for d in DELIMITERS if d != delimiter):
            hint = "; the columns may be split by another character: give it with --delimiter"
        raise CsvFormatError(f"line 1: header: no number column ({wanted}; or name it with --number-column); "
                             f"found: {found}{hint}")
    roles = {
        "name": find(NAME_COLUMNS),
        "first_name": find(FIRST_NAME_COLUMNS),
        "last_name": find(LAST_NAME_COLUMNS),
        "priority": find(PRIORITY_COLUMNS),
        "region": find(REGION_COLUMNS),
    }
    used = {number, *(i for i in roles.values() if i is not None)}
    attributes = tuple((i, keys[i]) for i in range(len(header))
                       if i not in used and keys[i] and keys[i] not in ERROR_COLUMNS)
    return ColumnMap(number=number, attributes=attributes, width=len(header), header=tuple(header),
                     delimiter=delimiter, encoding=encoding, **roles)


def _key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


@dataclass(frozen=True, slots=True)
class RecordChunk:
    """Whole CSV records as raw bytes, and the file line the first one starts on."""

    first_line: int
    data: bytes


def open_leads(path: Path, *, number_column: str | None = None, encoding: str = "utf-8",
               delimiter: str | None = None) -> tuple[ColumnMap, int]:
    """Read the header: the column map and the byte offset where the data records start.

    `delimiter` None: the one of DELIMITERS that splits the header line most often (outside quotes).
    """
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise CsvFormatError(f"cannot read {path}: {exc.strerror}") from None
    with raw:
        first = raw.readline()
        if not first:
            raise CsvFormatError("the file is empty")
        cr = first.find(b"\r")
        if 0 <= cr < len(first) - 2 or first.endswith(b"\r"):  # lines end in a lone CR (old Mac)
            first = first[:cr + 1]
        codec = "utf-8-sig" if encoding.replace("_", "-").lower() in ("utf-8", "utf8") else encoding
        try:
            text = first.decode(codec)
        except UnicodeDecodeError as exc:
            raise CsvFormatError(not_text_message(1, first[exc.start:exc.start + 1], encoding)) from None
        chosen = delimiter or sniff_delimiter(text)
        header = next(csv.reader([text], delimiter=chosen), [])
        return map_columns(header, number_column, delimiter=chosen, encoding=encoding), len(first)


def sniff_delimiter(line: str) -> str:
    """The delimiter a header line uses: the candidate found most often outside quotes (',' if none)."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def not_text_message(line: int, byte: bytes, encoding: str) -> str:
    """Why a file is refused for its encoding, and what to give instead."""
    shown = f"byte 0x{byte.hex()}" if byte else "a byte"
    if encoding.replace("_", "-").lower() in ("utf-8", "utf8"):
        return (f"line {line}: {shown} is not UTF-8 text; give the file's encoding with --encoding (Excel and "
                "Windows programs often write cp1252; others latin-1 or utf-16)")
    return f"line {line}: {shown} is not {encoding} text; check --encoding"


def split_records(path: Path, start: int, records: int,
                  on_progress: Callable[[int], None] | None = None) -> Iterator[RecordChunk]:
    """The file from `start` in chunks of about `records` whole records, without decoding it.

    A chunk may only end at a newline that is surely outside quotes. While every line has an even
    number of quote characters (a quote inside a quoted field is doubled), every newline is; the
    first line with an odd count (a field spanning lines, or a stray quote) ends the splitting and
    the rest of the file becomes one chunk, read exactly as a single pass would.
    """
    with path.open("rb") as raw:
        raw.seek(start)
        line = 2
        lines: list[bytes] = []
        first = line
        for text in raw:
            lines.append(text)
            # Count lines as the csv reader does (a lone CR ends a line too), so line numbers agree.
            line += 1 + text.count(b"\r") - text.count(b"\r\n")
            if text.count(b'"') % 2:
                lines.append(raw.read())
                break
            if len(lines) >= records:
                yield RecordChunk(first, b"".join(lines))
                if on_progress is not None:
                    on_progress(raw.tell())
                lines, first = [], line
        if lines:
            yield RecordChunk(first, b"".join(lines))
        if on_progress is not None:
            on_progress(raw.tell())


def parse_chunk(chunk: RecordChunk, columns: ColumnMap) -> list[LeadRow | BadRow]:
    """Each record of a chunk as a LeadRow, or a BadRow saying what is wrong with it.

    A file-level problem (not its encoding, a broken quoted field) raises CsvFormatError naming its line.
    """
    try:
        text = chunk.data.decode(columns.encoding)
    except UnicodeDecodeError as exc:
        line = chunk.first_line + chunk.data[:exc.start].count(b"\n")
        raise CsvFormatError(not_text_message(line, chunk.data[exc.start:exc.start + 1], columns.encoding)) from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=columns.delimiter)
    out: list[LeadRow | BadRow] = []
    line = chunk.first_line
    try:
        for record in reader:
            out.append(_row(record, columns, line))
            line = chunk.first_line + reader.line_num
    except csv.Error as exc:
        raise CsvFormatError(f"line {chunk.first_line + reader.line_num - 1}: {exc}") from None
    return out


def read_leads(path: Path, *, number_column: str | None = None) -> list[LeadRow | BadRow]:
    """Every data row of `path` (the whole file in one piece)."""
    columns, start = open_leads(path, number_column=number_column)
    with path.open("rb") as raw:
        raw.seek(start)
        return parse_chunk(RecordChunk(2, raw.read()), columns)


def _row(record: list[str], columns: ColumnMap, line: int) -> LeadRow | BadRow:
    if not any(cell.strip() for cell in record):
        return BadRow(line, "row", "empty row", tuple(record))
    if len(record) != columns.width:
        return BadRow(line, "row", f"expected {columns.width} fields, found {len(record)}", tuple(record))
    if max(map(len, record)) > FIELD_LIMIT:  # C speed: a loop here cost 1 s of a million-row import
        i, cell = max(enumerate(record), key=lambda item: len(item[1]))
        name = columns.header[i] if i < len(columns.header) else f"field {i + 1}"
        spans = cell.count("\n")
        where = f" (it spans {spans + 1} lines: a quote opened and never closed?)" if spans else ""
        return BadRow(line, name, f"{len(cell):,} characters, more than the {FIELD_LIMIT:,} a field may "
                                  f"have{where}", tuple(record))
    raw_number = record[columns.number].strip()
    if not raw_number:
        return BadRow(line, "number", "empty", tuple(record))
    priority = 0
    if columns.priority is not None and record[columns.priority].strip():
        try:
            priority = int(record[columns.priority])
        except ValueError:
            return BadRow(line, "priority", f"not an integer: {record[columns.priority][:20]!r}", tuple(record))
    region = None
    if columns.region is not None and record[columns.region].strip():
        region = record[columns.region].strip().upper()
        if len(region) != 2 or not region.isalpha() or not region.isascii():
            return BadRow(line, "region", f"not a two-letter region code: {region[:20]!r}", tuple(record))
    name = record[columns.name].strip() if columns.name is not None else ""
    if not name and (columns.first_name is not None or columns.last_name is not None):
        parts = [record[i].strip() for i in (columns.first_name, columns.last_name) if i is not None]
        name = " ".join(p for p in parts if p)
    attributes = {key: record[i].strip() for i, key in columns.attributes if record[i].strip()}
    return LeadRow(line, raw_number, region, name or None, priority, attributes, record)
