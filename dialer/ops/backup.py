"""Consistent copies of the database: `backup` while the daemon runs, `restore` while it does not.

The copy uses SQLite's online backup API in a single step: in WAL mode that step is one read
transaction, so the copy is the database as of one commit, while the daemon keeps writing (its
writes go to the WAL and never restart the copy). The result is a self-contained file (journal
mode DELETE), checked with `PRAGMA integrity_check` before it takes the target's name.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from dialer.numbers import mask_text
from dialer.ops import reapply
from dialer.ops.lock import DaemonLock
from dialer.ops.perms import database_files
from dialer.recordings import removal
from dialer.recordings.config import RecordingsConfig
from dialer.recordings.removal import NotDeleted
from dialer.store import Database, StoreError
from dialer.store import compliance_journal as journal
from dialer.store.migrations import MIGRATIONS
from dialer.store.reports import row_counts

SQLITE_HEADER = b"SQLite format 3\0"
REQUIRED_TABLES = frozenset({"meta", "campaigns", "leads", "attempts", "audit", "outbox"})


class BackupError(Exception):
    """A backup or restore cannot be done; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    """What a checked database file holds."""

    path: Path
    size_bytes: int
    schema_version: int
    attempts: int
    leads: int
    open_attempts: int


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What `restore` did."""

    restored: DatabaseInfo
    previous_copy: Path | None  # the database as it was before, kept beside it
    reapplied: tuple[str, ...] = ()  # compliance changes made after the backup, re-applied (masked)
    skipped: tuple[str, ...] = ()  # journal entries not re-applied, and why
    notes: tuple[str, ...] = ()
    files_not_deleted: tuple[NotDeleted, ...] = ()  # recordings of re-erased people that were not deleted


def check_database_file(path: Path) -> DatabaseInfo:
    """Validate a dialer database file (a backup): SQLite, intact, ours, and not newer than this dialer."""
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise BackupError(f"{path}: cannot read: {exc.strerror}") from None
    if header != SQLITE_HEADER:
        raise BackupError(f"{path}: not an SQLite database")
    known = max(m.version for m in MIGRATIONS)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: cannot open: {exc}") from None
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"{path}: damaged: {'; '.join(problems[:5])}")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = REQUIRED_TABLES - tables
        if missing:
            raise BackupError(f"{path}: not a dialer database (no table {', '.join(sorted(missing))})")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > known:
            raise BackupError(f"{path}: schema version {version} is newer than this dialer knows ({known}); "
                              "restore it with the dialer version that wrote it")
        if conn.execute("SELECT 1 FROM meta WHERE key = 'number_hash_key'").fetchone() is None:
            raise BackupError(f"{path}: has no number hash key (its audit rows could not be matched); "
                              "`dialer init` on its config adds one and changes nothing else")
        counts = row_counts(conn)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: cannot be read as a database: {exc}") from None
    finally:
        conn.close()
    return DatabaseInfo(path, path.stat().st_size, version, counts.attempts, counts.leads, counts.open_attempts)


def _connect_existing(path: Path) -> sqlite3.Connection:
    # mode=rw: never create an empty database by mistake; rw because a WAL reader may need the -shm.
    return sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=30)


def _copy_into(source: sqlite3.Connection, target_dir: Path, name: str) -> Path:
    """Copy an open database into a new private file in `target_dir`; returns its path."""
    tmp = target_dir / f".{name}.tmp-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        dest = sqlite3.connect(tmp)
        try:
            source.backup(dest)  # pages=-1: one step, one read transaction, one consistent snapshot
            dest.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
        finally:
            dest.close()
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(database: Path, target: Path) -> DatabaseInfo:
    """Write a checked, consistent copy of `database` to `target` (mode 0600), daemon running or not."""
    if not database.exists():
        raise BackupError(f"{database}: no database here")
    target = target.resolve()
    if target == database.resolve() or target in {p.resolve() for p in database_files(database)}:
        raise BackupError(f"{target}: is the live database; choose another file")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent}: no such folder")
    try:
        source = _connect_existing(database)
        try:
            tmp = _copy_into(source, target.parent, target.name)
        finally:
            source.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{database}: backup failed: {exc}") from None
    try:
        info = check_database_file(tmp)
    except BackupError as exc:
        tmp.unlink(missing_ok=True)
        # Said of the database a person knows, not of the copy's temporary name.
        raise BackupError(str(exc).replace(str(tmp), str(database), 1)) from None
    os.replace(tmp, target)
    _fsync_dir(target.parent)
    return DatabaseInfo(target, info.size_bytes, info.schema_version, info.attempts, info.leads, info.open_attempts)


def restore(source: Path, database: Path, *, accept_journal_loss: bool = False,
            recordings: RecordingsConfig | None = None, registry_dir: Path | None = None) -> RestoreResult:
    """Replace `database` with the backup `source`; refuses (LockHeld) while a daemon uses it.

    The database as it was is kept beside it as `<name>.before-restore-<time>`. Attempts that were
    live when the backup was taken are reconciled by the daemon at its next start, like after a crash.
    Erasures, opt-outs, DNC changes and consent revocations made after the backup are re-applied from
    the compliance journal beside the database (`ops.reapply`: what, and when restore refuses
    instead); nothing is replaced unless all of it worked. The recordings of people erased again are
    deleted only inside `recordings`' archive or spool (none without it: they are listed instead).
    National registries: their files in `registry_dir` are not part of a backup; the notes say which
    one the restored database and the files disagree about, and how to re-import it.
    """
    info = check_database_file(source)
    if database.exists() and source.resolve() == database.resolve():
        raise BackupError(f"{source}: is the live database itself")
    lock = DaemonLock(database)
    lock.acquire()  # LockHeld: the daemon runs; and while we hold it no daemon can start
    try:
        try:
            changes = journal.read(journal.journal_path(database))
        except journal.JournalError as exc:
            raise BackupError(f"{exc}; restore refused") from None
        database.parent.mkdir(parents=True, exist_ok=True)
        previous = _keep_previous(database)
        owner = database.stat() if database.exists() else database.parent.stat()
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
        try:
            tmp = _copy_into(src, database.parent, database.name)
        finally:
            src.close()
        try:
            done, work = _reapply(tmp, changes, previous, accept_journal_loss, registry_dir)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.chmod(tmp, 0o640)
        if os.geteuid() == 0:  # run as root: give the file to the daemon's user, like the one it replaces
            with contextlib.suppress(OSError):
                os.chown(tmp, owner.st_uid, owner.st_gid)
        # An old -wal beside the new file would be replayed into it: remove it first (the previous
        # database, WAL included, is in `previous`).
        for stale in database_files(database)[1:]:
            stale.unlink(missing_ok=True)
        os.replace(tmp, database)
        _fsync_dir(database.parent)
    finally:
        lock.release()
    if recordings is None:
        not_deleted = [NotDeleted(mask_text(p), "no recordings settings given: left alone")
                       for p in dict.fromkeys(done.recording_files)]
    else:
        not_deleted = removal.delete_files(recordings, done.recording_files)
    restored = DatabaseInfo(database, info.size_bytes, info.schema_version, info.attempts, info.leads,
                            info.open_attempts)
    return RestoreResult(restored, previous, tuple(done.lines), tuple(work.skipped), tuple(work.notes),
                         tuple(not_deleted))


def _reapply(tmp: Path, changes: journal.Journal, previous: Path | None, accept_journal_loss: bool,
             registry_dir: Path | None) -> tuple[reapply.Reapplied, reapply.ReapplyPlan]:
    """Bring the restored copy to this dialer's schema, then re-apply what the backup lacks (one transaction)."""
    _migrate(tmp)
    conn = sqlite3.connect(tmp, isolation_level=None, timeout=30)
    try:
        conn.execute("PRAGMA foreign_keys=ON")
        row = conn.execute("SELECT value FROM meta WHERE key = 'number_hash_key'").fetchone()
        key_id = journal.key_id(bytes.fromhex(row[0])) if row else None
        try:
            work = reapply.plan(changes, journal.marks(conn), reapply.read_marks(previous), key_id,
                                accept_journal_loss=accept_journal_loss)
        except reapply.ReapplyRefused as exc:
            raise BackupError(str(exc)) from None
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = reapply.apply(conn, work.apply, time.time())
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        work.notes.extend(reapply.registry_problems(conn, registry_dir))
        conn.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file again
    finally:
        conn.close()
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    return done, work


def _migrate(path: Path) -> None:
    """Apply this dialer's migrations to a restored copy (it may be from an older version), so the
    re-applied changes land in the schema the daemon will use. In a thread: restore may be called
    from a running event loop."""
    async def migrate() -> None:
        async with Database.open(path, create=False):
            pass

    def run() -> None:
        asyncio.run(migrate())

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        try:
            pool.submit(run).result()
        except StoreError as exc:
            raise BackupError(f"{exc}; restore refused") from None


def _keep_previous(database: Path) -> Path | None:
    if not database.exists():
        return None
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    name = f"{database.name}.before-restore-{stamp}"
    try:
        conn = _connect_existing(database)
        try:
            tmp = _copy_into(conn, database.parent, name)
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        # Too damaged to read (maybe why it is being restored): keep its files byte for byte.
        for path in database_files(database):
            if path.exists():
                kept = path.with_name(path.name.replace(database.name, name, 1))
                shutil.copy2(path, kept)
                os.chmod(kept, 0o600)  # copy2 copies the mode too, maybe a loose one
        return database.with_name(name)
    kept = database.with_name(name)
    os.replace(tmp, kept)
    return kept
