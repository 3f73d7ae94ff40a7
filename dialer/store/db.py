"""The database handle: one aiosqlite connection, WAL, and one writer transaction at a time.

aiosqlite runs every statement on one thread for the connection; two tasks interleaving
statements on it would mix their transactions (one task's COMMIT committing another's half-done
work). So every access goes through `read()` or `write()`, which hold one asyncio lock, and a
write block is exactly one BEGIN IMMEDIATE ... COMMIT.

Opening never turns a file that is there into a new database: an empty file, a file that is not
SQLite, an SQLite database of another program or one without the dialer's tables is refused with
one line that says what to do (`DatabaseUnusable`). A database is created only where no file is and
only when the caller asks (`create=True`: `dialer init`, `dialer import`, `dialer demo`); the
daemon and the other commands refuse a missing one (`DatabaseMissing`). Ours carry SQLite's
`application_id` (DIALER_APPLICATION_ID) from their first migration on.

Durability: WAL with `synchronous=NORMAL` survives a process crash but may lose the last commits
on a power loss or an OS crash. A `write(durable=True)` transaction (the attempt rows committed
before their Originates) runs with `synchronous=FULL`, so its COMMIT returns only after the WAL is
on disk; `[database] synchronous = "full"` makes every commit so (bench/durability.py measures both).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sqlite3
import stat
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import aiosqlite

from dialer.store.migrations import MIGRATIONS, Migration

Row = sqlite3.Row
T = TypeVar("T")


# SQLite's application_id of a dialer database ("DIAL"): `file` and `sqlite3` show it.
DIALER_APPLICATION_ID = 0x4449414C
# Tables every dialer database has once migrated (a database without them lost its schema).
CORE_TABLES = frozenset({"meta", "campaigns", "leads", "attempts", "audit", "outbox",
                         "outcome_journals"})
RESTORE_HINT = "restore from a backup with `dialer restore FILE`"

Synchronous = Literal["normal", "full"]

# Primary SQLite result codes (sqlite3.h) that say the file itself is bad, not the disk or a lock.
_NOTADB = 26
_DAMAGED_CODES = frozenset({11, _NOTADB})  # SQLITE_CORRUPT, SQLITE_NOTADB


class StoreError(Exception):
    """The database cannot be used; the message names the path, says why and what to do."""


class DatabaseMissing(StoreError):
    """No database at the configured path (and the caller did not ask to create one)."""


class DatabaseUnusable(StoreError):
    """The file is there but is not a usable dialer database: empty, not SQLite, another program's,
    without its schema, damaged, or of a newer schema. Retrying cannot help."""


class StorageFailure(StoreError):
    """The database cannot be read or written now: disk full, I/O error, permissions, locked."""


def is_damage(exc: sqlite3.Error) -> bool:
    """True if SQLite says the file itself is damaged (not the disk, a lock or a permission)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _DAMAGED_CODES


def store_error(path: Path, exc: sqlite3.Error, doing: str = "cannot use the database") -> StoreError:
    """The StoreError for an sqlite3 error on `path`: damaged files apart from storage failures."""
    if getattr(exc, "sqlite_errorcode", None) == _NOTADB:
        return DatabaseUnusable(f"{path}: not an SQLite database (bad header: {exc}); the file is damaged or "
                                f"is something else: {RESTORE_HINT}")
    if is_damage(exc):
        return DatabaseUnusable(f"{path}: the database is damaged ({exc}); {RESTORE_HINT}")
    return StorageFailure(f"{path}: {doing}: {exc} (check free space, the file's owner and mode)")


def inspect_file(path: Path) -> None:
    """Refuse what cannot be a dialer database before SQLite opens it: not a file, or an empty one.

    Only stat(2), never open(2): closing any descriptor of a database file drops every POSIX lock
    this process holds on it, so another process could then delete the WAL under a connection of
    ours (https://www.sqlite.org/howtocorrupt.html, 2.2). The header is SQLite's to check (NOTADB).
    """
    try:
        info = path.stat()
    except OSError as exc:
        raise StorageFailure(f"{path}: cannot read: {exc.strerror} (check the file's owner and mode)") from None
    if not stat.S_ISREG(info.st_mode):
        raise DatabaseUnusable(f"{path}: is not a regular file; database.path must name the database file")
    if info.st_size == 0:
        raise DatabaseUnusable(
            f"{path}: is an empty file (0 bytes), not a dialer database; {RESTORE_HINT}, or remove the "
            "file and run `dialer init` to start a new, empty database")


def _uri(path: Path, mode: str) -> str:
    # A URI with mode=rw never creates the file: only `create=True` on a missing path may.
    return f"file:{quote(str(path.absolute()))}?mode={mode}"


class Tx:
    """An open write transaction (or a read session); valid only inside its `async with` block."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    # Each statement below is one round trip to the database thread: through aiosqlite's cursor
    # (execute, fetch, close) it was three, and each hop costs 40-95 µs of CPU in thread hand-offs;
    # a paced dispatch makes a dozen of them per transaction whatever its size.

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the rowcount (or lastrowid for an INSERT)."""
        result: int = await self.run(_execute, sql, params)
        return result

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for many parameter rows (one round trip to the database thread)."""
        await self._conn.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """All rows of a query."""
        rows: list[Row] = await self.run(_fetchall, sql, params)
        return rows

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of a query, or None."""
        row: Row | None = await self.run(_fetchone, sql, params)
        return row

    async def run(self, fn: Any, *args: Any) -> Any:
        """Run `fn(sqlite3_connection, *args)` on the database thread (bulk work in one hop)."""
        return await self._conn._execute(fn, self._conn._conn, *args)


def _execute(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> int:
    cursor = conn.execute(sql, params)
    try:
        if sql.lstrip()[:6].upper() == "INSERT":
            return int(cursor.lastrowid or 0)
        return cursor.rowcount
    finally:
        cursor.close()


def _fetchall(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Row]:
    cursor = conn.execute(sql, params)
    try:
        return cursor.fetchall()
    finally:
        cursor.close()


def _in_transaction(conn: sqlite3.Connection, fn: Callable[..., T], *args: Any) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn, *args)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        # As in Database._transaction: a failed COMMIT may leave the transaction open.
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
    return result


def _fetchone(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> Row | None:
    cursor = conn.execute(sql, params)
    try:
        row: Row | None = cursor.fetchone()
        return row
    finally:
        cursor.close()


class Database:
    """The SQLite database of one dialer node. Open with `async with Database.open(path)`."""

    def __init__(self, conn: aiosqlite.Connection, path: Path, synchronous: Synchronous = "normal") -> None:
        self._conn = conn
        self.path = path
        self._lock = asyncio.Lock()
        self.synchronous: Synchronous = synchronous

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path, *, create: bool = True, synchronous: Synchronous = "normal"
                   ) -> AsyncIterator[Database]:
        """Open (and migrate) the dialer database at `path`; closes it, thread included, on exit.

        A missing file is created only with `create=True`; a file that is there must be a dialer
        database (see the module docstring). Raises DatabaseMissing, DatabaseUnusable or StorageFailure.
        """
        fresh = not path.exists() and not path.is_symlink()
        if fresh and not create:
            raise DatabaseMissing(f"{path}: no database here; create it with `dialer init` (or {RESTORE_HINT})")
        if not fresh:
            inspect_file(path)
        try:
            if fresh:
                path.parent.mkdir(parents=True, exist_ok=True)
                # Created here, private from the start: the database holds numbers and names.
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))
        except FileExistsError:
            raise StorageFailure(f"{path}: appeared while it was being created; try again") from None
        except OSError as exc:
            raise StorageFailure(f"{path}: cannot create the database: {exc.strerror} "
                                 "(check the folder's owner and mode)") from None
        connecting = aiosqlite.connect(_uri(path, "rw"), uri=True, isolation_level=None)
        try:
            conn = await connecting
        except sqlite3.Error as exc:
            await _stopped(connecting)
            raise store_error(path, exc, "cannot open the database") from None
        conn.row_factory = sqlite3.Row
        db = cls(conn, path, synchronous)
        try:
            await db._prepare(fresh)
        except BaseException:
            await conn.close()
            if fresh:  # a database this call began (disk full, ...) holds nothing: leave no empty file behind
                for file in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
                    file.unlink(missing_ok=True)
            raise
        try:
            yield db
        finally:
            await conn.close()

    async def _prepare(self, fresh: bool) -> None:
        try:
            # A CLI import holds the write lock for seconds: wait for it rather than fail.
            await self._conn.execute("PRAGMA busy_timeout=30000")
            if not fresh:
                await self._check_identity()  # before anything writes (journal_mode=WAL rewrites the header)
            await self._conn.execute("PRAGMA journal_mode=WAL")
            await self._conn.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
            await self._conn.execute("PRAGMA foreign_keys=ON")
            await self.migrate(MIGRATIONS)
            await self._check_schema()
            if fresh:
                # Made with the database, not at the daemon's first gate decision: a backup checks
                # for it, and journal lines name it (`compliance_journal.key_id`) from the first change.
                await self.hash_key()
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from None

    async def _scalar(self, sql: str) -> Any:
        async with self._conn.execute(sql) as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

    async def _tables(self) -> set[str]:
        async with self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cursor:
            return {row[0] for row in await cursor.fetchall()}

    async def _check_identity(self) -> None:
        """An existing file: ours (by application_id, or by its tables if it predates the stamp)?"""
        app_id = int(await self._scalar("PRAGMA application_id") or 0)
        if app_id == DIALER_APPLICATION_ID:
            return
        if app_id != 0:
            raise DatabaseUnusable(f"{self.path}: an SQLite database of another program (application_id "
                                   f"{app_id:#010x}), not a dialer database; check database.path, or {RESTORE_HINT}")
        tables = await self._tables()
        if not tables:
            raise DatabaseUnusable(
                f"{self.path}: an SQLite database without the dialer's schema (no tables); {RESTORE_HINT}, "
                "or remove the file and run `dialer init` to start a new, empty database")
        if not {"meta", "attempts"} <= tables:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise DatabaseUnusable(f"{self.path}: not a dialer database (its tables: {shown}); check "
                                   f"database.path, or {RESTORE_HINT}")

    async def _check_schema(self) -> None:
        missing = CORE_TABLES - await self._tables()
        if missing:
            raise DatabaseUnusable(f"{self.path}: the dialer's schema is incomplete (no table "
                                   f"{', '.join(sorted(missing))}); {RESTORE_HINT}")

    async def check_integrity(self) -> None:
        """`PRAGMA quick_check`: every page of the file is read (a damaged page anywhere is found now,
        not at the first query that reaches it). Raises DatabaseUnusable naming the first problems."""
        async with self._lock:
            try:
                async with self._conn.execute("PRAGMA quick_check(3)") as cursor:
                    problems = [str(row[0]) for row in await cursor.fetchall()]
            except sqlite3.Error as exc:
                raise store_error(self.path, exc) from None
        if problems != ["ok"]:
            raise DatabaseUnusable(f"{self.path}: the database is damaged ({'; '.join(problems)}); {RESTORE_HINT}")

    async def migrate(self, migrations: Sequence[Migration]) -> int:
        """Apply every migration this database lacks; returns the schema version (the highest applied).

        Each one runs in its own transaction that also records it in `schema_migrations`, so a
        migration numbered below the version (a feature that landed after a later-numbered one) is
        still applied once. A database from before that table has every version up to its
        user_version (they were numbered without gaps then).
        """
        async with self._lock:
            version = await self._user_version()
            known = max((m.version for m in migrations), default=0)
            if version > known:
                raise DatabaseUnusable(
                    f"{self.path}: schema version {version} is newer than this dialer knows ({known}); "
                    "upgrade the dialer"
                )
            applied = await self._applied(version)
            for migration in sorted(migrations, key=lambda m: m.version):
                if migration.version in applied:
                    continue
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    await self._conn.execute(_APPLIED_TABLE)
                    if not applied:
                        # The first migration of a new database stamps it as ours, in its transaction.
                        await self._conn.execute(f"PRAGMA application_id = {DIALER_APPLICATION_ID}")
                        await self._conn.executemany(
                            "INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0) "
                            "ON CONFLICT (version) DO NOTHING", [(v,) for v in range(1, version + 1)])
                    for statement in _statements(migration.sql):
                        await self._conn.execute(statement)
                    await self._conn.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                                             (migration.version, time.time()))
                    version = max(version, migration.version)
                    await self._conn.execute(f"PRAGMA user_version = {int(version)}")
                    await self._conn.execute("COMMIT")
                except BaseException:
                    await self._conn.execute("ROLLBACK")
                    raise
                applied.add(migration.version)
            if int(await self._scalar("PRAGMA application_id") or 0) == 0:
                # A dialer database from before the stamp (recognised by its tables): stamp it now.
                await self._conn.execute(f"PRAGMA application_id = {DIALER_APPLICATION_ID}")
            return version

    async def _applied(self, version: int) -> set[int]:
        async with self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ) as cursor:
            exists = await cursor.fetchone() is not None
        if not exists:
            return set(range(1, version + 1))
        async with self._conn.execute("SELECT version FROM schema_migrations") as cursor:
            return {int(row[0]) for row in await cursor.fetchall()}

    async def _user_version(self) -> int:
        async with self._conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def schema_version(self) -> int:
        """The schema version of this database."""
        async with self._lock:
            return await self._user_version()

    @asynccontextmanager
    async def write(self, *, durable: bool = False) -> AsyncIterator[Tx]:
        """One write transaction: committed when the block ends, rolled back if it raises.

        `durable=True`: its COMMIT returns only once the WAL is on disk (synchronous=FULL for this
        transaction), so it survives a power loss or an OS crash, not only a process crash.
        """
        async with self._lock:
            if durable and self.synchronous != "full":
                async with self._synchronous("FULL"), self._transaction() as tx:
                    yield tx
            else:
                async with self._transaction() as tx:
                    yield tx

    async def write_in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """One write transaction run whole on the database thread, in one round trip: BEGIN IMMEDIATE,
        `fn(sqlite3_connection, *args)`, COMMIT (ROLLBACK if `fn` raises; its error is raised here).

        For the engine's frequent small transactions (outcome flushes): as separate hops, BEGIN,
        the writes, the hooks and COMMIT were four thread hand-offs each. `fn` must not touch
        objects the event loop changes meanwhile (give it plain values). A cancelled caller does
        not stop it: the transaction commits or rolls back whole on the thread.
        """
        async with self._lock:
            result: T = await Tx(self._conn).run(_in_transaction, fn, *args)
            return result

    @asynccontextmanager
    async def _synchronous(self, level: str) -> AsyncIterator[None]:
        # SQLite applies `PRAGMA synchronous` to the connection's pagers at once, and a commit syncs
        # by the level in force when it runs: changed between transactions, it holds for exactly
        # one (tests/store/test_durability.py counts the fdatasync calls).
        try:
            await self._conn.execute(f"PRAGMA synchronous={level}")
            yield
        finally:
            await asyncio.shield(self._conn.execute(f"PRAGMA synchronous={self.synchronous.upper()}"))

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Tx]:
        try:
            await self._conn.execute("BEGIN IMMEDIATE")
        except asyncio.CancelledError:
            # The BEGIN still runs on the database thread: queue its ROLLBACK before the lock is
            # released, or the next transaction would find this one open.
            with contextlib.suppress(sqlite3.Error):
                await asyncio.shield(self._conn.execute("ROLLBACK"))
            raise
        try:
            yield Tx(self._conn)
        except BaseException:
            await self._conn.execute("ROLLBACK")
            raise
        try:
            await self._conn.execute("COMMIT")
        except BaseException:
            # A COMMIT that failed (disk full, I/O error) may leave the transaction open: end it, or
            # every later BEGIN fails with "cannot start a transaction within a transaction".
            if self._conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    await asyncio.shield(self._conn.execute("ROLLBACK"))
            raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """A read session (no transaction is open inside it, so it sees committed data)."""
        async with self._lock:
            yield Tx(self._conn)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Shortcut: all rows of one query."""
        async with self.read() as tx:
            return await tx.fetchall(sql, params)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """Shortcut: first row of one query."""
        async with self.read() as tx:
            return await tx.fetchone(sql, params)

    async def hash_key(self) -> bytes:
        """This database's key for number hashes (created once, kept in `meta`)."""
        row = await self.fetchone("SELECT value FROM meta WHERE key = 'number_hash_key'")
        if row is not None:
            return bytes.fromhex(row[0])
        key = secrets.token_bytes(32)
        async with self.write() as tx:
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES ('number_hash_key', ?) ON CONFLICT (key) DO NOTHING",
                (key.hex(),),
            )
            row = await tx.fetchone("SELECT value FROM meta WHERE key = 'number_hash_key'")
        assert row is not None
        return bytes.fromhex(row[0])


async def _stopped(connecting: aiosqlite.Connection) -> None:
    """Workaround for aiosqlite 0.22 (Connection._connect): a failed connect queues the stop of its
    worker thread without waiting for it, and the thread then calls back into the event loop; once
    asyncio.run has closed the loop, the thread prints "RuntimeError: Event loop is closed" twice.
    Wait for the thread while the loop still runs. Private attribute: if aiosqlite renames it, the
    unreadable-database test in tests/cli/test_hostile.py sees the noise again and fails."""
    thread = getattr(connecting, "_thread", None)
    if thread is not None and thread.is_alive():
        await asyncio.to_thread(thread.join, 10.0)


_APPLIED_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
)


def _statements(sql: str) -> list[str]:
    """Split a migration script on semicolons (our migrations contain no triggers or strings with ;)."""
    return [part.strip() for part in sql.split(";") if part.strip() and not _only_comments(part)]


def _only_comments(part: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in part.splitlines())
