"""Audit rows that are not gate decisions: commands and other changes a person (or a tool) asked for.

The gate's decisions and compliance changes have their own writers (`store.calls`, `store.compliance`);
this module is for everything else that must be on record: who asked for what, when, and what came
of it. Detail text never carries a number in clear (the callers pass masked text).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from dialer.store.db import Tx


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row: `kind` (e.g. `command`), who (`actor`), what happened (`detail`), on what campaign,
    and the lead and call (or message) it is about, if any."""

    at: float
    kind: str
    actor: str
    detail: str
    campaign: str | None = None
    verdict: str | None = None
    rule: str | None = None
    lead_id: int | None = None
    call_id: str | None = None


_INSERT = ("INSERT INTO audit (at, kind, campaign_id, lead_id, call_id, verdict, rule, detail, actor) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _values(entry: AuditEntry) -> tuple[object, ...]:
    return (entry.at, entry.kind, entry.campaign, entry.lead_id, entry.call_id, entry.verdict, entry.rule,
            entry.detail, entry.actor)


async def add_entry(tx: Tx, entry: AuditEntry) -> int:
    """Write one audit row inside the caller's transaction; returns its id."""
    return await tx.execute(_INSERT, _values(entry))


def add_entry_row(conn: sqlite3.Connection, entry: AuditEntry) -> int:
    """`add_entry` on the database thread (inside a `tx.run` or a restore's own connection)."""
    return int(conn.execute(_INSERT, _values(entry)).lastrowid or 0)


async def last_id(tx: Tx) -> int:
    """The id of the newest audit row (0 when there is none)."""
    row = await tx.fetchone("SELECT COALESCE(MAX(id), 0) FROM audit")
    return int(row[0]) if row else 0


async def gate_blocks_between(tx: Tx, after_id: int, upto_id: int) -> dict[str, int]:
    """The daemon's gate blocks by rule among audit rows after_id < id <= upto_id ("" for no rule)."""
    rows = await tx.fetchall(
        "SELECT rule, COUNT(*) AS n FROM audit WHERE id > ? AND id <= ? AND kind = 'gate' "
        "AND verdict = 'block' AND actor = 'dialer' GROUP BY rule", (after_id, upto_id))
    return {str(row["rule"] or ""): int(row["n"]) for row in rows}


async def gate_verdicts(tx: Tx) -> list[tuple[str, str, int]]:
    """Every gate decision on record counted by (verdict, rule), the most frequent first."""
    rows = await tx.fetchall("SELECT verdict, rule, COUNT(*) AS n FROM audit WHERE kind = 'gate' "
                             "GROUP BY verdict, rule ORDER BY n DESC")
    return [(row["verdict"], row["rule"], int(row["n"])) for row in rows]
