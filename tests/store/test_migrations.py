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


async def test_migration_8_widens_the_lead_status_even_for_a_connection_opened_before_it(tmp_path):
    """A database from before lead lists: a daemon's connection, open while a command migrates it,
    keeps writing leads (a disabled one too) without reopening; nothing else is accepted."""
    fresh = tmp_path / "pre8.db"
    async with Database.open(fresh) as db:
        pass
    pre8 = sqlite3.connect(fresh, isolation_level=None)
    pre8.execute("PRAGMA writable_schema = ON")
    pre8.execute("UPDATE sqlite_master SET sql = replace(sql, ', ''disabled''', '') WHERE name = 'leads'")
    pre8.execute("PRAGMA writable_schema = RESET")
    pre8.execute("ALTER TABLE leads DROP COLUMN list_id")
    pre8.execute("DROP TABLE lead_lists")
    pre8.execute("DELETE FROM schema_migrations WHERE version = 8")
    pre8.execute("INSERT INTO campaigns (id, state, created_at, updated_at) VALUES ('c', 'active', 0, 0)")
    pre8.execute("INSERT INTO contacts (id, name, attributes, created_at, updated_at) VALUES (1, NULL, '{}', 0, 0)")
    pre8.execute("INSERT INTO phone_numbers (number, contact_id, region, number_type, zones, created_at) "
                 "VALUES ('+14155550100', 1, 'US', 'fixed_line_or_mobile', '', 0)")
    pre8.execute("INSERT INTO leads (campaign_id, number, created_at, updated_at) VALUES ('c', '+14155550100', 0, 0)")
    with pytest.raises(sqlite3.IntegrityError):
        pre8.execute("UPDATE leads SET status = 'disabled'")
    daemon = sqlite3.connect(fresh, isolation_level=None)  # open before the migration
    daemon.execute("SELECT COUNT(*) FROM leads").fetchone()
    async with Database.open(fresh, create=False) as db:
        assert await db.schema_version() >= 8
        assert "lead_lists" in await tables(db)
    daemon.execute("UPDATE leads SET status = 'disabled', list_id = NULL")
    with pytest.raises(sqlite3.IntegrityError):
        daemon.execute("UPDATE leads SET status = 'bogus'")
    assert daemon.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert daemon.execute("PRAGMA writable_schema").fetchone()[0] == 0
    daemon.close()
    pre8.close()
