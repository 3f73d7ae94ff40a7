"""Reading a recording out of the spool safely, moving it into the archive atomically, and the
storage errors a person must act on.

The spool is writable by Asterisk, so by anyone who can make Asterisk (or its user) write a file:
an entry there may be a symbolic link to a private file elsewhere, a hard link to one, a FIFO that
would block a reader forever, a device. The archiver therefore never acts on a spool *path* after
checking it: `open_spool_file` walks the folders with `O_NOFOLLOW | O_DIRECTORY`, opens the file with
`O_NOFOLLOW | O_NONBLOCK`, and checks the open descriptor (`fstat`: a regular file, the very one
`lstat` saw, one link only). Everything after that (the hash, the WAV check, the copy, the mode)
works on that descriptor; the only path operation left in the spool is removing the entry, and only
if it still names the file that was copied (`unlink` never follows a link). Nothing outside the
spool is ever opened, changed or removed, and the archive only ever receives new regular files that
the archiver wrote itself.

Blocking file I/O: call from a worker thread. A reader of the archive never sees a half-written
file: either a hard link of the checked file (same file system, the file is ours) or a complete,
fsynced copy is renamed into place.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import BinaryIO

FILE_MODE = 0o640
DIR_MODE = 0o750
_BLOCK = 1 << 20

# Errors that mean "the storage needs a person" rather than "this one file is bad".
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO,
                            errno.ENOTDIR, errno.ELOOP})

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO swapped in after the lstat must not block the archiver's thread on open().
# O_NOCTTY: a terminal device must never become our controlling terminal.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class StorageError(Exception):
    """The archive (or the spool) cannot be written or read: names the path and the reason."""

    def __init__(self, path: Path, reason: str, code: int | None = None) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.code = code


class SourceChanged(Exception):
    """The spool file changed between its check and its copy (so it was not closed after all)."""


class UnsafeEntry(Exception):
    """A spool entry that is not a plain file of its own: flagged and left alone. `what` says what it is."""

    def __init__(self, path: Path, what: str) -> None:
        super().__init__(f"{path} is {what}")
        self.path = path
        self.what = what


def storage_error(exc: OSError, fallback: Path) -> StorageError:
    """A StorageError for an OSError, naming the path the error was about."""
    path = Path(exc.filename) if isinstance(exc.filename, str | Path) and exc.filename else fallback
    return StorageError(path, exc.strerror or str(exc), exc.errno)


_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


def describe_entry(mode: int) -> str:
    """What a spool entry that is not a regular file is, in words."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


def _lstat(name: str, dir_fd: int) -> os.stat_result:
    # One place, so a test can change the entry right after this look (the TOCTOU window).
    return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)


@dataclass(slots=True)
class SpoolFile:
    """A checked, open recording in the spool: a regular file with one link, read through `handle`."""

    path: Path  # for messages only: never opened again
    name: str
    dir_fd: int
    fd: int
    st: os.stat_result
    handle: BinaryIO

    def close(self) -> None:
        """Close the file and its folder."""
        self.handle.close()
        os.close(self.dir_fd)

    def still_named(self) -> bool:
        """True if the spool entry still names this very file."""
        try:
            st = _lstat(self.name, self.dir_fd)
        except FileNotFoundError:
            return False
        return (st.st_dev, st.st_ino) == (self.st.st_dev, self.st.st_ino)

    def remove(self) -> None:
        """Remove the spool entry, if it still names this file (a replacement is left alone)."""
        if self.still_named():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.name, dir_fd=self.dir_fd)


def _open_dir_chain(base: Path, parts: tuple[str, ...], *, create: bool = False) -> int:
    """A descriptor of `base/parts...`, never following a symbolic link below `base` (`base` itself is
    the admin's configured folder and may be one). Creates missing folders (mode 0750) if asked."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, DIR_MODE, dir_fd=fd)
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafeEntry(base.joinpath(*parts), "not a folder of its own (a link or a file)") from None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_spool_file(spool_dir: Path, relative: PurePath, *, twin: Path | None = None) -> SpoolFile:
    """Open `spool_dir/relative` for reading, if it is a regular file of its own inside the spool.

    Raises FileNotFoundError (nothing there), UnsafeEntry (a symlink, FIFO, device, socket,
    directory, a file with other hard links, or an entry swapped while it was opened) and OSError.
    `twin`: an archive path that may be the file's second link (a crash between linking it into the
    archive and removing it from the spool); then two links are expected.
    """
    path = spool_dir.joinpath(*relative.parts)
    dir_fd = _open_dir_chain(spool_dir, relative.parts[:-1])
    try:
        name = relative.parts[-1]
        seen = _lstat(name, dir_fd)
        if not stat.S_ISREG(seen.st_mode):
            raise UnsafeEntry(path, describe_entry(seen.st_mode))
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # swapped for a symbolic link after the look
                raise UnsafeEntry(path, "a symbolic link") from None
            raise
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise UnsafeEntry(path, describe_entry(st.st_mode))
            if (st.st_dev, st.st_ino) != (seen.st_dev, seen.st_ino):
                raise UnsafeEntry(path, "replaced while it was being opened")
            if st.st_nlink != 1 and not (st.st_nlink == 2 and _same_file(twin, st)):
                raise UnsafeEntry(path, f"a file with {st.st_nlink} hard links (it may be a file from elsewhere)")
            os.set_blocking(fd, True)
            handle = open(fd, "rb", closefd=True)  # noqa: SIM115 - SpoolFile.close() closes it
        except BaseException:
            os.close(fd)
            raise
    except BaseException:
        os.close(dir_fd)
        raise
    return SpoolFile(path, name, dir_fd, fd, st, handle)


@contextlib.contextmanager
def checked_spool_file(spool_dir: Path, relative: PurePath, *, twin: Path | None = None) -> Iterator[SpoolFile]:
    """`open_spool_file` as a context manager."""
    source = open_spool_file(spool_dir, relative, twin=twin)
    try:
        yield source
    finally:
        source.close()


def _same_file(path: Path | None, st: os.stat_result) -> bool:
    if path is None:
        return False
    try:
        other = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISREG(other.st_mode) and (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino)


def archive(source: SpoolFile, archive_dir: Path, relative: PurePath, sha256: str) -> Path:
    """Put the checked spool file into `archive_dir/relative` (mode 0640), then remove it from the spool.

    The file's content comes from the open descriptor only: a hard link of it when it is ours and on
    the archive's file system, else a copy (+ fsync) checked against `sha256`; either is renamed into
    place inside the archive. Returns the archive path.
    Raises StorageError for storage failures, SourceChanged if the copy's hash differs.
    """
    target = archive_dir.joinpath(*relative.parts)
    try:
        archive_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)  # the configured folder itself
        folder = _open_dir_chain(archive_dir, relative.parts[:-1], create=True)
    except UnsafeEntry as exc:
        raise StorageError(exc.path, "the archive has a link or a file where a folder belongs", errno.ELOOP) from None
    except OSError as exc:
        raise storage_error(exc, target.parent) from exc
    try:
        name = relative.parts[-1]
        part = f".{name}.part"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part, dir_fd=folder)  # left by a crash during an earlier copy
        if not _link_into(source, part, folder, os.fstat(folder).st_dev):
            _copy_into(source, part, folder, sha256)
        os.rename(part, name, src_dir_fd=folder, dst_dir_fd=folder)
        os.fsync(folder)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(f".{relative.parts[-1]}.part", dir_fd=folder)
        raise storage_error(exc, target) from exc
    finally:
        os.close(folder)
    try:
        source.remove()
    except OSError as exc:
        raise storage_error(exc, source.path) from exc
    return target


def _link_into(source: SpoolFile, part: str, folder: int, archive_dev: int) -> bool:
    """Hard-link the open file into the archive folder (no copy). Only for a file this process owns
    (one Asterisk owns keeps its owner, and our fchmod would fail) on the same file system; False
    when that does not apply or the kernel refuses (no /proc, protected hard links)."""
    st = source.st
    if st.st_uid != os.geteuid() or st.st_dev != archive_dev:
        return False
    os.fchmod(source.fd, FILE_MODE)  # on the checked file itself, never through a path
    try:
        # linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd/N links the open inode, whatever the spool
        # entry names by now (Linux; an unprivileged alternative to AT_EMPTY_PATH).
        os.link(f"/proc/self/fd/{source.fd}", part, dst_dir_fd=folder, follow_symlinks=True)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.EPERM, errno.EXDEV, errno.EACCES, errno.ENOTSUP, errno.EMLINK):
            return False
        raise
    return True


def _copy_into(source: SpoolFile, part: str, folder: int, sha256: str) -> None:
    digest = hashlib.sha256()
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE, dir_fd=folder)
    try:
        with open(fd, "wb", closefd=True) as out:
            source.handle.seek(0)
            while block := source.handle.read(_BLOCK):
                digest.update(block)
                out.write(block)
            out.flush()
            os.fchmod(out.fileno(), FILE_MODE)  # O_CREAT's mode is narrowed by the umask
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256:
            raise SourceChanged(f"{source.path} changed while it was copied")
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(part, dir_fd=folder)
        raise


def archived_file(archive_dir: Path, relative: PurePath) -> Path | None:
    """The archive path if a regular file of our own is there (a crash after the move), else None."""
    target = archive_dir.joinpath(*relative.parts)
    try:
        st = os.stat(target, follow_symlinks=False)
    except OSError:
        return None
    return target if stat.S_ISREG(st.st_mode) else None


def remove_inside(root: Path, relative: PurePath, *, prune: bool = False) -> bool:
    """Delete the regular file `root/relative`, never following a link below `root`: the folders are
    walked with `O_NOFOLLOW | O_DIRECTORY` and the file is removed with `unlink(name, dir_fd=...)`.

    `prune`: then remove the folders it leaves empty, up to (not including) `root`. Returns False if
    nothing was there. Raises UnsafeEntry (a link or a file where a folder belongs, or an entry that
    is not a regular file: left alone) and OSError.
    """
    parts = relative.parts
    if not parts or ".." in parts or relative.is_absolute():
        raise ValueError(f"{relative}: not a path inside {root}")
    try:
        folder = _open_dir_chain(root, parts[:-1])
    except FileNotFoundError:
        return False
    try:
        try:
            seen = _lstat(parts[-1], folder)
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(seen.st_mode):
            raise UnsafeEntry(root.joinpath(*parts), describe_entry(seen.st_mode))
        try:
            os.unlink(parts[-1], dir_fd=folder)
        except FileNotFoundError:
            return False
    finally:
        os.close(folder)
    if prune:
        _prune(root, parts[:-1])
    return True


def _prune(root: Path, folders: tuple[str, ...]) -> None:
    """Remove the empty folders `root/folders...`, deepest first, through descriptors (rmdir of a
    name never follows a link); stops at the first that is not empty."""
    for depth in range(len(folders), 0, -1):
        try:
            parent = _open_dir_chain(root, folders[:depth - 1])
        except (OSError, UnsafeEntry):
            return
        try:
            os.rmdir(folders[depth - 1], dir_fd=parent)
        except OSError:
            return
        finally:
            os.close(parent)
