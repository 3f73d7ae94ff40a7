"""Migration 8: lead lists (each import a named list the leads point to) and the `disabled` lead status.

`leads.status` gains 'disabled' (a lead taken out of dialing by `dialer leads disable`; the claim
reads only 'pending', so nothing else changes). SQLite cannot alter a CHECK constraint, and the
12-step table rebuild would drop the table that attempts and callbacks reference; widening an IN
list changes no stored row, which is the case SQLite's documentation allows to edit in place with
`writable_schema` (https://sqlite.org/lang_altertable.html, "otheralter"). RESET reparses the
schema on this connection; the CREATE TABLE after it changes the schema cookie, so every other
open connection (a daemon's) reparses too before its next statement. (The column may name the
table before it exists: SQLite checks a foreign key when rows are written, not when it is declared.)
No index on `list_id`: `dialer leads` selects by campaign first (the claim's index), and an index
on a million-lead import cost about 2 s of its 20 (bench/import_leads.py). A PostgreSQL backend says
the same with `ALTER TABLE leads DROP CONSTRAINT ..., ADD CONSTRAINT ... CHECK (status IN (...))`.
"""

from dialer.store.migrations.base import Migration

MIGRATION = Migration(8, "lead lists: one per import; leads.list_id; lead status disabled", """
ALTER TABLE leads ADD COLUMN list_id INTEGER REFERENCES lead_lists (id);
PRAGMA writable_schema = ON;
UPDATE sqlite_master SET sql = replace(sql, '''blocked'', ''invalid'')', '''blocked'', ''invalid'', ''disabled'')')
    WHERE type = 'table' AND name = 'leads' AND sql NOT LIKE '%''disabled''%';
PRAGMA writable_schema = RESET;
CREATE TABLE lead_lists (
    id INTEGER PRIMARY KEY,
    campaign_id TEXT NOT NULL REFERENCES campaigns (id),
    name TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL,
    imports INTEGER NOT NULL DEFAULT 0,
    rows_read INTEGER NOT NULL DEFAULT 0,
    new_leads INTEGER NOT NULL DEFAULT 0,
    existing_leads INTEGER NOT NULL DEFAULT 0,
    duplicate_rows INTEGER NOT NULL DEFAULT 0,
    bad_rows INTEGER NOT NULL DEFAULT 0,
    duplicate_policy TEXT NOT NULL DEFAULT 'merge',
    UNIQUE (campaign_id, name)
)
""")
