"""The compliance journal's marks: one row per journaled change, committed with the change.

The journal itself is a file beside the database (`store.compliance_journal`), which a restore does
not overwrite; a row here says "this change is in this database". A backup holds the marks of the
changes made before it, so at restore the journal's entries without a mark in the backup are exactly
the changes the backup does not have.
"""

from dialer.store.migrations.base import Migration

MIGRATION = Migration(6, "compliance journal marks", """
CREATE TABLE compliance_journal (
    token TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    at REAL NOT NULL
)
""")
