"""The migration runner: numbers are handed out per feature and may land out of order; each migration
is applied exactly once."""

from __future__ import annotations

import sqlite3

import pytest

from dialer.store import Database, StoreError
from dialer.store.migrations import MIGRATIONS, Migration


async def tables(db: Database) -> set[str]:
    return {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")}


async def test_a_missing_number_that_lands_later_is_applied_once(tmp_path):
    async with Database.open(tmp_path / "dialer.db") as db:
        base = await db.schema_version()
        later = Migration(base + 4, "later", "CREATE TABLE later_feature (id INTEGER PRIMARY KEY)")
        earlier = Migration(base + 3, "earlier", "CREATE TABLE earlier_feature (id INTEGER PRIMARY KEY)")
        assert await db.migrate([*MIGRATIONS, later]) == base + 4
        assert "earlier_feature" not in await tables(db)
        # The feature numbered below arrives after: applied although the version is past it.
        assert await db.migrate([*MIGRATIONS, earlier, later]) == base + 4
        assert {"earlier_feature", "later_feature"} <= await tables(db)
        # Once only: a second run would fail on CREATE TABLE if it ran anything again.
        assert await db.migrate([*MIGRATIONS, earlier, later]) == base + 4
        recorded = {r[0] for r in await db.fetchall("SELECT version FROM schema_migrations")}
        assert recorded == {m.version for m in MIGRATIONS} | {base + 3, base + 4}


async def test_a_database_from_before_the_record_has_every_version_up_to_its_own(tmp_path):
    path = tmp_path / "old.db"
    async with Database.open(path) as db:
        version = await db.schema_version()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE schema_migrations")  # as written by a dialer without the record
    conn.commit()
    conn.close()
    async with Database.open(path, create=False) as db:
        assert await db.schema_version() == version
        assert await db.migrate(MIGRATIONS) == version  # nothing re-run (CREATE TABLE would fail)


async def test_a_newer_schema_is_refused(tmp_path):
    async with Database.open(tmp_path / "dialer.db") as db:
        with pytest.raises(StoreError, match="newer than this dialer knows"):
            await db.migrate(MIGRATIONS[:1])
