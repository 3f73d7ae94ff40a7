"""CSV that a spreadsheet opens without running anything: OWASP's CSV-injection rule.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return (or the full-width forms of
the first four, which spreadsheets also read as formula starts) is written with a single quote in
front: `=HYPERLINK(...)` arrives as the text `'=HYPERLINK(...)`, and `+14155550123` as
`'+14155550123` (text, so the spreadsheet also keeps its plus). Only text cells are changed;
numbers are written as numbers. See https://owasp.org/www-community/attacks/CSV_Injection.

Every CSV export of the dialer (`contact export`, `audit export`, `report --format csv`) writes
through `writer`/`dict_writer`. The `--errors-file` of an import does not: it gives rejected
rows back exactly as they came in, to be fixed and imported again by the dialer.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise(value: Any) -> Any:
    """A text cell a spreadsheet would execute, made inert with a leading single quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeWriter:
    """csv.writer with every text cell neutralised."""

    def __init__(self, stream: TextIO, **kwargs: Any) -> None:
        self._writer = csv.writer(stream, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        """Write one row."""
        return self._writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        """Write rows."""
        for row in rows:
            self.writerow(row)


class SafeDictWriter:
    """csv.DictWriter with every text cell neutralised (the header is ours and written as it is)."""

    def __init__(self, stream: TextIO, fieldnames: list[str], **kwargs: Any) -> None:
        self._writer = csv.DictWriter(stream, fieldnames=fieldnames, **kwargs)

    def writeheader(self) -> Any:
        """Write the header row."""
        return self._writer.writeheader()

    def writerow(self, row: Mapping[str, Any]) -> Any:
        """Write one row."""
        return self._writer.writerow({key: neutralise(value) for key, value in row.items()})

    def writerows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Write rows."""
        for row in rows:
            self.writerow(row)


def writer(stream: TextIO, **kwargs: Any) -> SafeWriter:
    """A csv.writer that neutralises formula cells."""
    return SafeWriter(stream, **kwargs)


def dict_writer(stream: TextIO, fieldnames: list[str], **kwargs: Any) -> SafeDictWriter:
    """A csv.DictWriter that neutralises formula cells."""
    return SafeDictWriter(stream, fieldnames, **kwargs)
