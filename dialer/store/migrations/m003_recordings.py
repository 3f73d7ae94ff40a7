"""Migration 3: call recordings (metadata and pipeline state), legal holds, and the outcome flag."""

from dialer.store.migrations.base import Migration

MIGRATION = Migration(3, "recordings: metadata rows, legal holds, attempts.recording_status", """
-- One row per answered call whose recording the dialer manages. Written as 'pending' in the same
-- transaction as the call's final outcome, so a crash between the hangup and the archive step
-- loses nothing: the archiver picks pending rows up at the next start.
CREATE TABLE recordings (
    call_id TEXT PRIMARY KEY REFERENCES attempts (call_id),
    campaign_id TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'archived', 'broken', 'missing', 'purged')),
    problem TEXT,
    source_path TEXT NOT NULL,
    stop_seen INTEGER NOT NULL DEFAULT 0,
    expected_s REAL,
    path TEXT,
    bytes INTEGER,
    duration_s REAL,
    sha256 TEXT,
    created_at REAL NOT NULL,
    archived_at REAL,
    verified_at REAL,
    verify_problem TEXT,
    purged_at REAL
);
CREATE INDEX recordings_status ON recordings (status, created_at);
CREATE INDEX recordings_campaign ON recordings (campaign_id, created_at);
-- Legal holds: while a hold on a call or on its campaign is active, its recording is never purged.
CREATE TABLE recording_holds (
    id INTEGER PRIMARY KEY,
    scope TEXT NOT NULL CHECK (scope IN ('call', 'campaign')),
    target TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    released_at REAL,
    released_by TEXT
);
CREATE UNIQUE INDEX recording_holds_active ON recording_holds (scope, target) WHERE released_at IS NULL;
-- The call's outcome carries its recording's state: pending, archived, broken, missing, purged.
ALTER TABLE attempts ADD COLUMN recording_status TEXT;
""")
