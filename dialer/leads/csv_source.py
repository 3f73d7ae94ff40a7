"""Read a lead list (CSV with a header row) into plain rows, naming the line of every problem."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

NUMBER_COLUMNS = (
    "number", "phone", "phone_number", "phonenumber", "telephone", "tel", "msisdn", "mobile", "e164",
)
NAME_COLUMNS = ("name", "full_name", "fullname", "contact_name")
FIRST_NAME_COLUMNS = ("first_name", "firstname", "given_name")
LAST_NAME_COLUMNS = ("last_name", "lastname", "surname", "family_name")
PRIORITY_COLUMNS = ("priority",)
REGION_COLUMNS = ("region", "country")


class CsvFormatError(Exception):
    """The file as a whole cannot be read (no header, no number column, not UTF-8, ...)."""


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that was skipped: its line number, the field at fault and why."""

    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


@dataclass(slots=True)
class LeadRow:
    """One usable row: the raw number and what else the file says about the person."""

    line: int
    raw_number: str
    region: str | None
    name: str | None
    priority: int
    attributes: dict[str, str] = field(default_factory=dict)


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


def map_columns(header: list[str], number_column: str | None = None) -> ColumnMap:
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
        raise CsvFormatError(f"line 1: header: no number column ({wanted}); found: {', '.join(header)}")
    roles = {
        "name": find(NAME_COLUMNS),
        "first_name": find(FIRST_NAME_COLUMNS),
        "last_name": find(LAST_NAME_COLUMNS),
        "priority": find(PRIORITY_COLUMNS),
        "region": find(REGION_COLUMNS),
    }
    used = {number, *(i for i in roles.values() if i is not None)}
    attributes = tuple((i, keys[i]) for i in range(len(header)) if i not in used and keys[i])
    return ColumnMap(number=number, attributes=attributes, width=len(header), **roles)


def _key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def read_leads(
    path: Path,
    *,
    number_column: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[LeadRow | BadRow]:
    """Yield each data row of `path` as a LeadRow, or a BadRow saying what is wrong with it."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise CsvFormatError(f"cannot read {path}: {exc.strerror}") from None
    with raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        try:
            header = next(reader, None)
            if header is None:
                raise CsvFormatError("the file is empty")
            columns = map_columns(header, number_column)
            line = reader.line_num + 1
            for count, record in enumerate(reader, start=1):
                yield _row(record, columns, line)
                line = reader.line_num + 1
                if on_progress is not None and count % 4096 == 0:
                    on_progress(raw.tell())
        except UnicodeDecodeError:
            raise CsvFormatError(f"line {reader.line_num + 1}: the file is not UTF-8 text") from None
        except csv.Error as exc:
            raise CsvFormatError(f"line {reader.line_num}: {exc}") from None
        if on_progress is not None:
            on_progress(raw.tell())


def _row(record: list[str], columns: ColumnMap, line: int) -> LeadRow | BadRow:
    if not any(cell.strip() for cell in record):
        return BadRow(line, "row", "empty row")
    if len(record) != columns.width:
        return BadRow(line, "row", f"expected {columns.width} fields, found {len(record)}")
    raw_number = record[columns.number].strip()
    if not raw_number:
        return BadRow(line, "number", "empty")
    priority = 0
    if columns.priority is not None and record[columns.priority].strip():
        try:
            priority = int(record[columns.priority])
        except ValueError:
            return BadRow(line, "priority", f"not an integer: {record[columns.priority][:20]!r}")
    region = None
    if columns.region is not None and record[columns.region].strip():
        region = record[columns.region].strip().upper()
        if len(region) != 2 or not region.isalpha() or not region.isascii():
            return BadRow(line, "region", f"not a two-letter region code: {region[:20]!r}")
    name = record[columns.name].strip() if columns.name is not None else ""
    if not name and (columns.first_name is not None or columns.last_name is not None):
        parts = [record[i].strip() for i in (columns.first_name, columns.last_name) if i is not None]
        name = " ".join(p for p in parts if p)
    attributes = {key: record[i].strip() for i, key in columns.attributes if record[i].strip()}
    return LeadRow(line, raw_number, region, name or None, priority, attributes)
