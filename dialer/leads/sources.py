"""Where a lead list comes from, made into a file the CSV importer splits: stdin, Excel, any encoding.

The importer reads a seekable file in an encoding whose newline, quote and delimiters are single
ASCII bytes (it splits the bytes into chunks for worker processes before decoding them). So:
- standard input (`-`, a pipe) is copied to a private temporary file first;
- an Excel workbook (.xlsx, .xlsm, .xls, .ods: told by its first bytes, not its name) is read with
  python-calamine and written as a UTF-8 CSV; its row numbers stay the line numbers of messages;
- UTF-16 and UTF-32 (what Excel writes for "Unicode text", with a byte-order mark) and any other
  encoding that is not ASCII-compatible are transcoded to UTF-8;
- UTF-8 with or without a BOM, and single-byte code pages (--encoding cp1252, latin-1, ...), are read
  in place.
Temporary files are mode 0600 (they hold personal data) and deleted when the import ends.

Why calamine and not openpyxl: on 100,000 rows it reads several times faster in a fraction of the
memory (bench/xlsx_readers.py; figures in BENCHMARKS.md), it is maintained, and it reads .xls and
.ods as well; openpyxl is only used by the tests and the benchmark, to write workbooks.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dialer.leads.csv_source import CsvFormatError, not_text_message

STDIN = "-"
_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the legacy .xls container
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_COPY_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class LeadSource:
    """A lead list ready for the CSV importer."""

    path: Path  # the file to read (the user's, or a temporary one)
    label: str  # how messages name it: the user's path, or "stdin"
    encoding: str  # what the workers decode with
    delimiter: str | None  # None: detect from the header line
    converted_from: str = ""  # "xlsx", "utf-16", ... when `path` is a converted copy


def check_encoding(name: str) -> str:
    """A codec name Python knows (normalised), or ValueError saying so."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ValueError(f"unknown encoding {name!r} (e.g. utf-8, cp1252, latin-1, utf-16)") from None


def _splittable(encoding: str) -> bool:
    """True if the file can be split as bytes: UTF-8, or a code page of one byte per character."""
    name = codecs.lookup(encoding).name
    if name in ("utf-8", "utf-8-sig"):
        return True
    try:
        return len(bytes(range(256)).decode(name, errors="replace")) == 256 and "\n\r\",;\t|".encode(name) == (
            b"\n\r\",;\t|")
    except (UnicodeError, LookupError):
        return False


@contextlib.contextmanager
def open_source(name: str | Path, *, encoding: str | None = None, delimiter: str | None = None,
                on_stage: Callable[[str], None] | None = None) -> Iterator[LeadSource]:
    """The lead list `name` (a path, or "-" for standard input) as a LeadSource; CsvFormatError if not readable."""
    with contextlib.ExitStack() as stack:
        label = "stdin" if str(name) == STDIN else str(name)
        if str(name) == STDIN:
            if on_stage is not None:
                on_stage("reading standard input")
            path = _spool_stdin(stack)
        else:
            path = Path(name)
            try:
                if path.is_dir():
                    raise CsvFormatError(f"{label} is a folder, not a lead list")
                regular = path.is_file()
                if regular:  # (opening a FIFO to probe it would take its only reader's turn)
                    path.open("rb").close()
            except OSError as exc:
                raise CsvFormatError(f"cannot read {label}: {exc.strerror}") from None
            if not regular:
                # A pipe, /dev/stdin or a FIFO can be read only once, and the import reads its head,
                # then splits it by offsets: copied to a private temporary file first, like "-".
                if on_stage is not None:
                    on_stage(f"reading {label}")
                path = _spool(stack, path, label)
        head = _head(path)
        if head.startswith((_ZIP, _OLE)):
            if on_stage is not None:
                on_stage("reading the workbook")
            converted = _temporary(stack, ".csv")
            _workbook_to_csv(path, converted, label)
            yield LeadSource(converted, label, "utf-8", ",", "workbook")
            return
        chosen = check_encoding(encoding) if encoding else _detect(head)
        if _splittable(chosen):
            yield LeadSource(path, label, chosen, delimiter)
            return
        if on_stage is not None:
            on_stage(f"converting from {chosen}")
        converted = _temporary(stack, ".csv")
        _transcode(path, converted, chosen, label)
        yield LeadSource(converted, label, "utf-8", delimiter, chosen)


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(4096)


def _detect(head: bytes) -> str:
    """The encoding a byte-order mark names; else UTF-8 (a hint for UTF-16 without a BOM)."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    if len(head) >= 4 and head.count(0) * 3 > len(head):
        even = head[0::2].count(0) > head[1::2].count(0)
        guess = "utf-16-be" if even else "utf-16-le"
        raise CsvFormatError(f"line 1: the file looks like UTF-16 without a byte-order mark: give --encoding {guess}")
    return "utf-8"


def _temporary(stack: contextlib.ExitStack, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(prefix="dialer-import-", suffix=suffix)  # mode 0600
    os.close(fd)
    path = Path(name)
    stack.callback(path.unlink, missing_ok=True)
    return path


def _spool_stdin(stack: contextlib.ExitStack) -> Path:
    path = _temporary(stack, ".csv")
    source: BinaryIO = sys.stdin.buffer
    with path.open("wb") as target:
        shutil.copyfileobj(source, target, _COPY_BYTES)
    if path.stat().st_size == 0:
        raise CsvFormatError("standard input is empty (pipe a CSV file into the command)")
    return path


def _spool(stack: contextlib.ExitStack, source: Path, label: str) -> Path:
    """A file that is not a regular one (a pipe, /dev/stdin) copied once into a temporary file."""
    path = _temporary(stack, ".csv")
    try:
        with source.open("rb") as handle, path.open("wb") as target:
            shutil.copyfileobj(handle, target, _COPY_BYTES)
    except OSError as exc:
        raise CsvFormatError(f"cannot read {label}: {exc.strerror}") from None
    if path.stat().st_size == 0:
        raise CsvFormatError("nothing to read (pipe a CSV file into the command)")
    return path


def _transcode(source: Path, target: Path, encoding: str, label: str) -> None:
    """`source` in `encoding` rewritten as UTF-8 (its BOM dropped), line for line."""
    line = 1
    try:
        with source.open("r", encoding=encoding, newline="") as reader, \
                target.open("w", encoding="utf-8", newline="") as writer:
            for text in reader:
                writer.write(text.removeprefix("\ufeff") if line == 1 else text)
                line += 1
    except UnicodeDecodeError:
        raise CsvFormatError(not_text_message(line, b"", encoding)) from None
    except OSError as exc:
        raise CsvFormatError(f"cannot read {label}: {exc.strerror}") from None


def cell_text(value: object) -> str:
    """A workbook cell as the text a CSV would hold: 4155550123.0 -> "4155550123", dates ISO-8601."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e17 else repr(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value.total_seconds())
    return str(value)


def _workbook_to_csv(source: Path, target: Path, label: str) -> None:
    """The first sheet of a workbook as a UTF-8 CSV (a number stored as a number loses its leading
    zero in Excel itself: such a cell is read as the digits Excel kept)."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(source))
    except (CalamineError, ValueError, OSError) as exc:
        raise CsvFormatError(f"{label} looks like a workbook but cannot be read ({type(exc).__name__}: "
                             f"{str(exc)[:200]}); save it again as .xlsx or CSV") from None
    try:
        if not book.sheet_names:
            raise CsvFormatError(f"{label}: the workbook has no sheet")
        sheet = book.get_sheet_by_index(0)
        with target.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            for row in sheet.iter_rows():
                writer.writerow([cell_text(value) for value in row])
    except CalamineError as exc:
        raise CsvFormatError(f"{label}: cannot read the workbook's first sheet ({str(exc)[:200]})") from None
    finally:
        book.close()
