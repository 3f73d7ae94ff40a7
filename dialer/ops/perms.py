"""File permissions of the dialer's data: the database (and its -wal/-shm) holds numbers, names and
call history, so nothing of it may be readable by other users.

SQLite gives -wal and -shm the mode of the database file, and `dialer run` sets a umask of 027, so
new files are private from the start; `tighten` repairs files left open by an older version or by
hand (and says so).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

DAEMON_UMASK = 0o027


def database_files(database: Path) -> list[Path]:
    """The database and the files SQLite keeps beside it."""
    return [database, *(database.with_name(database.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]


def tighten(paths: Iterable[Path]) -> list[tuple[Path, int, int]]:
    """Remove every permission of other users; returns (path, old mode, new mode) per change."""
    changed = []
    for path in paths:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o007:
            new = mode & ~0o007
            os.chmod(path, new)
            changed.append((path, mode, new))
    return changed


def restrict_umask() -> int:
    """Add 027 to the process umask (never loosen one that is stricter); returns the old umask."""
    old = os.umask(DAEMON_UMASK)
    os.umask(old | DAEMON_UMASK)
    return old
