"""File permissions of the dialer's data: the database (and its -wal/-shm) holds numbers, names and
call history, so nothing of it may be readable by other users.

SQLite gives -wal and -shm the mode of the database file, and `dialer run` sets a umask of 027, so
new files are private from the start; `tighten` repairs files left open by an older version or by
hand (and says so).
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

DAEMON_UMASK = 0o027
PRIVATE_FILE_MODE = 0o640  # owner and the dialer's group (backups are 0600: they leave the host)


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


def open_private(path: Path, mode: Literal["w", "a"] = "w", *, file_mode: int = PRIVATE_FILE_MODE,
                 newline: str | None = None) -> io.TextIOWrapper:
    """Open a text file the dialer writes numbers into (an export, a log, a lead list): created with
    `file_mode`, and an existing file brought to it too (`open()` would keep a 0644 file 0644).

    The mode is set on the open descriptor (fchmod), so a file swapped in between cannot be touched.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = os.open(path, flags, file_mode)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != file_mode:
            os.fchmod(fd, file_mode)
    except PermissionError:
        # Someone else's file: acceptable only if it is private already.
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o007:
            os.close(fd)
            raise
    except BaseException:
        os.close(fd)
        raise
    return open(fd, mode, encoding="utf-8", newline=newline, closefd=True)
