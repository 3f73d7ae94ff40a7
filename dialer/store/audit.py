"""Audit rows that are not gate decisions: commands and other changes a person (or a tool) asked for.

The gate's decisions and compliance changes have their own writers (`store.calls`, `store.compliance`);
this module is for everything else that must be on record: who asked for what, when, and what came
of it. Detail text never carries a number in clear (the callers pass masked text).
"""

from __future__ import annotations

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


async def add_entry(tx: Tx, entry: AuditEntry) -> int:
    """Write one audit row inside the caller's transaction; returns its id."""
    return await tx.execute(
        "INSERT INTO audit (at, kind, campaign_id, lead_id, call_id, verdict, rule, detail, actor) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (entry.at, entry.kind, entry.campaign, entry.lead_id, entry.call_id, entry.verdict, entry.rule, entry.detail,
         entry.actor))
