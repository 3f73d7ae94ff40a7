"""Migration 7: the outcome journal's record of what it applied.

When the daemon cannot write outcomes at its stop (disk full, I/O error), it writes them to a journal
file beside the database (dialer.store.journal); the next start applies that journal in one
transaction that also inserts its id here. A crash after that commit but before the file is reset
leaves the journal on disk; its id here tells the next start it is already applied, so it is never
applied twice.
"""

from dialer.store.migrations.base import Migration

MIGRATION = Migration(7, "outcome journal: journals applied", """
CREATE TABLE outcome_journals (
    id TEXT PRIMARY KEY,
    written_at REAL NOT NULL,
    applied_at REAL NOT NULL,
    finals INTEGER NOT NULL,
    recorded INTEGER NOT NULL
)
""")
