"""Migration 2: the compliance gate's facts: DNC entries, consent records, national registries.

DNC entries are never deleted: removing one sets `removed_at`, so the history of who listed or
unlisted a number, and when, stays on record. Every change to `dnc_entries` takes the next value
of `compliance_revision` into its `revision` column, which lets a running daemon pick up exactly
the rows changed since it last looked (in the same transaction that claims leads).
"""

from dialer.store.migrations.base import Migration

MIGRATION = Migration(2, "compliance: dnc entries, consents, registries", """
CREATE TABLE compliance_revision (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
);
INSERT INTO compliance_revision (id, revision) VALUES (1, 0);
CREATE TABLE dnc_entries (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL,
    list TEXT NOT NULL CHECK (list IN ('internal', 'campaign', 'optout')),
    -- campaign lists: the campaign. Opt-outs: the campaign it covers, NULL = every campaign
    campaign_id TEXT,
    source TEXT NOT NULL,
    added_at REAL NOT NULL,
    expires_at REAL,
    removed_at REAL,
    actor TEXT NOT NULL,
    revision INTEGER NOT NULL,
    CHECK (list <> 'campaign' OR campaign_id IS NOT NULL),
    CHECK (list <> 'internal' OR campaign_id IS NULL)
);
CREATE INDEX dnc_entries_number ON dnc_entries (number, list);
CREATE INDEX dnc_entries_revision ON dnc_entries (revision);
CREATE INDEX dnc_entries_active ON dnc_entries (list, campaign_id) WHERE removed_at IS NULL;
CREATE TABLE consents (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL,
    source TEXT NOT NULL,
    granted_at REAL NOT NULL,
    -- a campaign name, or NULL for every campaign
    scope TEXT,
    expires_at REAL,
    revoked_at REAL,
    -- call | sms, or NULL for both
    channel TEXT CHECK (channel IN ('call', 'sms')),
    actor TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX consents_number ON consents (number);
CREATE TABLE registries (
    name TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    data_as_of REAL NOT NULL,
    loaded_at REAL NOT NULL,
    count INTEGER NOT NULL,
    checksum TEXT NOT NULL,
    country_code INTEGER NOT NULL,
    -- space-separated ISO regions the registry covers (empty = every region of its country code)
    regions TEXT NOT NULL DEFAULT '',
    source_file TEXT NOT NULL,
    actor TEXT NOT NULL
);
""")
