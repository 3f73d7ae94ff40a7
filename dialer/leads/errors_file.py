"""`--errors-file`: the rejected rows as they came in, ready to fix and import again.

Each rejected row is written with its fields as read, after two columns: `import_line` (the line
of the row in the file) and `import_error` (`field: reason`). The importer ignores those two
columns, so the file, once its rows are fixed, is imported as it is. It is written as UTF-8 with
the original file's delimiter, mode 0600 (it holds personal data), whole or not at all.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from dialer.leads.csv_source import ERROR_COLUMNS, BadRow


class ErrorsFile:
    """A sink for rejected rows; `close()` puts the file in place, `discard()` leaves nothing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._partial = path.with_name(path.name + ".part")
        self._handle: TextIO | None = None
        self._csv: Any = None
        self._skip: set[int] = set()
        self.rows = 0

    def start(self, header: tuple[str, ...], delimiter: str) -> None:
        """Open the file and write its header (the lead list's own, after the two error columns)."""
        fd = os.open(self._partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
        writer = csv.writer(self._handle, delimiter=delimiter, lineterminator="\n")
        writer.writerow([*ERROR_COLUMNS, *(h for h in header if h.strip().lower() not in ERROR_COLUMNS)])
        self._csv = writer
        self._skip = {i for i, h in enumerate(header) if h.strip().lower() in ERROR_COLUMNS}

    def write(self, rows: Iterable[BadRow]) -> None:
        """Append rejected rows (their fields as read; an earlier import's error columns dropped)."""
        writer = self._csv
        assert writer is not None, "start() first"
        for row in rows:
            fields = [value for i, value in enumerate(row.record) if i not in self._skip]
            writer.writerow([row.line, f"{row.field}: {row.reason}", *fields])
            self.rows += 1

    def close(self) -> None:
        """Finish the file and move it into place."""
        if self._handle is None:
            return
        self._handle.close()
        self._handle = None
        os.replace(self._partial, self.path)

    def discard(self) -> None:
        """Drop a half-written file (the import failed before it read the file)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self._partial.unlink(missing_ok=True)
