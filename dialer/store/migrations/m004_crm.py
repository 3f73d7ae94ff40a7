"""Migration 6: customer management, follow-ups, erasure and SMS.

- `attempts.medium`: an SMS is an attempt like a call (gate decision, attempt row committed before
  the action is sent, one final outcome, the lead's retry policy), told apart by this column so that
  frequency caps and reports count calls and messages separately.
- `contacts.erased_at`: set by `dialer forget`; the row stays (without name or attributes) so the
  history keeps its shape, linked to pseudonymous numbers (`erased:<keyed hash>`).
- `suppressions`: keyed hashes of erased numbers; the gate blocks every number whose hash is here.
  Each row takes the next `compliance_revision`, like a DNC change, so a running daemon applies it
  before it claims its next leads.
"""

from dialer.store.migrations.base import Migration

MIGRATION = Migration(4, "crm: tags, notes, callbacks, suppression list, SMS messages, attempts.medium", """
ALTER TABLE attempts ADD COLUMN medium TEXT NOT NULL DEFAULT 'call' CHECK (medium IN ('call', 'sms'));
-- Reports read a campaign's attempts by creation time, and its text messages apart.
CREATE INDEX attempts_campaign_created ON attempts (campaign_id, created_at);
CREATE INDEX attempts_sms ON attempts (campaign_id, created_at) WHERE medium = 'sms';
ALTER TABLE contacts ADD COLUMN erased_at REAL;
CREATE TABLE contact_tags (
    contact_id INTEGER NOT NULL REFERENCES contacts (id),
    tag TEXT NOT NULL,
    created_at REAL NOT NULL,
    actor TEXT NOT NULL,
    PRIMARY KEY (contact_id, tag)
);
CREATE INDEX contact_tags_tag ON contact_tags (tag);
CREATE TABLE contact_notes (
    id INTEGER PRIMARY KEY,
    contact_id INTEGER NOT NULL REFERENCES contacts (id),
    body TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX contact_notes_contact ON contact_notes (contact_id, created_at);
-- A follow-up: the lead becomes due at `due_at` (and goes through the gate then, like any lead).
-- `lead_priority` is the lead's priority before the callback raised it (restored when it fires).
CREATE TABLE callbacks (
    id INTEGER PRIMARY KEY,
    lead_id INTEGER NOT NULL REFERENCES leads (id),
    campaign_id TEXT NOT NULL,
    due_at REAL NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('cli', 'dialplan')),
    -- dialplan: the call in which the callee asked for it
    call_id TEXT,
    requested_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'fired', 'cancelled')),
    lead_priority INTEGER NOT NULL,
    fired_call_id TEXT,
    fired_at REAL
);
CREATE INDEX callbacks_pending ON callbacks (lead_id) WHERE status = 'pending';
CREATE INDEX callbacks_lead ON callbacks (lead_id, created_at);
CREATE TABLE suppressions (
    number_hash TEXT PRIMARY KEY,
    added_at REAL NOT NULL,
    revision INTEGER NOT NULL
);
CREATE INDEX suppressions_revision ON suppressions (revision);
-- Messages sent (one per SMS attempt, `call_id` = the attempt's) and received (STOP replies ...).
CREATE TABLE sms_messages (
    id INTEGER PRIMARY KEY,
    direction TEXT NOT NULL CHECK (direction IN ('out', 'in')),
    call_id TEXT UNIQUE,
    campaign_id TEXT,
    number TEXT NOT NULL,
    body TEXT,
    -- inbound: the opt-out word it matched, if any
    keyword TEXT,
    detail TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX sms_messages_number ON sms_messages (number, created_at);
""")
