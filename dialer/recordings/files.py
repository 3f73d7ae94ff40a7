"""Moving a recording into the archive atomically, and the storage errors a person must act on.

Blocking file I/O: call from a worker thread. A reader of the archive never sees a half-written
file: either the file is renamed into place (same file system) or a complete, fsynced copy is.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from pathlib import Path

FILE_MODE = 0o640
DIR_MODE = 0o750
_BLOCK = 1 << 20

# Errors that mean "the storage needs a person" rather than "this one file is bad".
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO,
                            errno.ENOTDIR})


class StorageError(Exception):
    """The archive (or the spool) cannot be written or read: names the path and the reason."""

    def __init__(self, path: Path, reason: str, code: int | None = None) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.code = code


class SourceChanged(Exception):
    """The spool file changed between its check and its copy (so it was not closed after all)."""


def storage_error(exc: OSError, fallback: Path) -> StorageError:
    """A StorageError for an OSError, naming the path the error was about."""
    path = Path(exc.filename) if exc.filename else fallback
    return StorageError(path, exc.strerror or str(exc), exc.errno)


def archive(source: Path, target: Path, sha256: str) -> None:
    """Move `source` to `target` (mode 0640): rename when it is ours and on the same file system,
    else copy + fsync + rename, checking the copy against `sha256`; then remove the source.

    Raises StorageError for storage failures, SourceChanged if the copy's hash differs.
    """
    try:
        _make_dirs(target.parent)
        if _can_rename(source, target.parent):
            os.rename(source, target)
            os.chmod(target, FILE_MODE)
        else:
            _copy_into_place(source, target, sha256)
            source.unlink()
        _fsync_dir(target.parent)
    except OSError as exc:
        raise storage_error(exc, target) from exc


def _can_rename(source: Path, target_dir: Path) -> bool:
    # A file Asterisk owns keeps its owner on rename and cannot be chmod-ed by us: copy it instead.
    st = source.stat()
    return st.st_uid == os.geteuid() and st.st_dev == target_dir.stat().st_dev


def _copy_into_place(source: Path, target: Path, sha256: str) -> None:
    part = target.with_name(f".{target.name}.part")
    with contextlib.suppress(FileNotFoundError):
        part.unlink()  # left by a crash during an earlier copy
    digest = hashlib.sha256()
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    try:
        with open(fd, "wb", closefd=True) as out, source.open("rb") as src:
            while block := src.read(_BLOCK):
                digest.update(block)
                out.write(block)
            out.flush()
            os.fchmod(out.fileno(), FILE_MODE)  # O_CREAT's mode is narrowed by the umask
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256:
            raise SourceChanged(f"{source} changed while it was copied")
        os.rename(part, target)
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink()
        raise


def _make_dirs(path: Path) -> None:
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=DIR_MODE)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_empty_dirs(start: Path, stop: Path) -> None:
    """Remove `start` and its parents up to (not including) `stop` while they are empty."""
    path = start
    while path != stop and stop in path.parents:
        try:
            path.rmdir()
        except OSError:
            return
        path = path.parent
