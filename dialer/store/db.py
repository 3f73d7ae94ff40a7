"""The database handle: one aiosqlite connection, WAL, and one writer transaction at a time.

aiosqlite runs every statement on one thread for the connection; two tasks interleaving
statements on it would mix their transactions (one task's COMMIT committing another's half-done
work). So every access goes through `read()` or `write()`, which hold one asyncio lock, and a
write block is exactly one BEGIN IMMEDIATE ... COMMIT.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from dialer.store.migrations import MIGRATIONS, Migration

Row = sqlite3.Row


class StoreError(Exception):
    """The database cannot be opened or is not one of ours."""


class Tx:
    """An open write transaction (or a read session); valid only inside its `async with` block."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the rowcount (or lastrowid for an INSERT)."""
        cursor = await self._conn.execute(sql, params)
        try:
            if sql.lstrip()[:6].upper() == "INSERT":
                return int(cursor.lastrowid or 0)
            return cursor.rowcount
        finally:
            await cursor.close()

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for many parameter rows (one round trip to the database thread)."""
        await self._conn.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """All rows of a query."""
        async with self._conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of a query, or None."""
        async with self._conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def run(self, fn: Any, *args: Any) -> Any:
        """Run `fn(sqlite3_connection, *args)` on the database thread (bulk work in one hop)."""
        return await self._conn._execute(fn, self._conn._conn, *args)


class Database:
    """The SQLite database of one dialer node. Open with `async with Database.open(path)`."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._lock = asyncio.Lock()

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path, *, create: bool = True) -> AsyncIterator[Database]:
        """Open (and migrate) the database; closes it, thread included, on exit."""
        if not create and not path.exists():
            raise StoreError(f"{path}: no database here (run the daemon or an import first)")
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists()
        connecting = aiosqlite.connect(path, isolation_level=None)
        try:
            conn = await connecting
        except sqlite3.Error as exc:
            await _stopped(connecting)
            raise StoreError(f"{path}: cannot open database: {exc}") from None
        conn.row_factory = sqlite3.Row
        try:
            if fresh:
                # Not world-readable: the database holds numbers and names.
                os.chmod(path, 0o640)
            db = cls(conn, path)
            await db._prepare()
            yield db
        finally:
            await conn.close()

    async def _prepare(self) -> None:
        try:
            await self._conn.execute("PRAGMA journal_mode=WAL")
            await self._conn.execute("PRAGMA synchronous=NORMAL")
            await self._conn.execute("PRAGMA foreign_keys=ON")
            # A CLI import holds the write lock for seconds: wait for it rather than fail.
            await self._conn.execute("PRAGMA busy_timeout=30000")
            await self.migrate(MIGRATIONS)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable dialer database: {exc}") from None

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
                raise StoreError(
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
    async def write(self) -> AsyncIterator[Tx]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        async with self._lock:
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
            await self._conn.execute("COMMIT")

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
