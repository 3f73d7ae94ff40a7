"""Deleting recording files the database names: only inside the archive or the spool, never through a link.

A path in the `recordings` table is data, not a promise: a restored backup of another host, a hand
edit or a bug can make it name any file, and a folder on the way may have become a link (the spool
is writable by Asterisk). So a path is deleted only if it lies, as written, inside
`recordings.archive_dir` or the spool (the `source_path` Asterisk reported is mapped to the spool as
this process sees it), and then through `files.remove_inside`, which walks the folders below that
root without following a link. Anything else is left where it is and reported, masked.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath

from dialer.numbers import mask_text
from dialer.recordings.config import RecordingsConfig
from dialer.recordings.files import UnsafeEntry, remove_inside
from dialer.recordings.paths import UnsafePath, spool_relative


@dataclass(frozen=True, slots=True)
class NotDeleted:
    """A recording file that was not deleted, and why (both masked: they are shown and logged)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path} ({self.reason})"


def _relative(root: Path, path: str) -> PurePath | None:
    """`path` relative to `root` if it lies inside it as written (no `..`), else None."""
    if ".." in PurePath(path).parts:
        return None
    try:
        relative = PurePath(os.path.abspath(path)).relative_to(os.path.abspath(root))
    except ValueError:
        return None
    return relative if relative.parts else None


def locate(settings: RecordingsConfig, path: str, *, archive_only: bool = False) -> tuple[Path, PurePath] | None:
    """(root, path inside it) for a recording path inside the archive or the spool, else None."""
    relative = _relative(settings.archive_dir, path)
    if relative is not None:
        return settings.archive_dir, relative
    if archive_only:
        return None
    try:
        return settings.local_spool, spool_relative(settings, path)  # as Asterisk sees the spool
    except UnsafePath:
        pass
    relative = _relative(settings.local_spool, path)
    return (settings.local_spool, relative) if relative is not None else None


def delete_one(settings: RecordingsConfig, path: str, *, archive_only: bool = False, prune: bool = False,
               ) -> NotDeleted | None:
    """Delete one recording file (a missing one counts as deleted); None when done. `prune`: also the
    archive folders it leaves empty. Blocking file I/O."""
    where = locate(settings, path, archive_only=archive_only)
    if where is None:
        inside = "archive" if archive_only else "archive and spool"
        return NotDeleted(mask_text(path), f"outside the recordings {inside}: left alone")
    root, relative = where
    try:
        remove_inside(root, relative, prune=prune and root == settings.archive_dir)
    except UnsafeEntry as exc:
        return NotDeleted(mask_text(path), mask_text(f"{exc.path} is {exc.what}: left alone"))
    except OSError as exc:
        return NotDeleted(mask_text(path), exc.strerror or type(exc).__name__)
    return None


def delete_files(settings: RecordingsConfig, paths: Iterable[str], *, prune: bool = False) -> list[NotDeleted]:
    """Delete recording files (each path once); returns those that were not deleted."""
    failed = []
    for path in dict.fromkeys(paths):
        problem = delete_one(settings, path, prune=prune)
        if problem is not None:
            failed.append(problem)
    return failed
