"""Audit rows for outcomes nobody knows: an attempt with no channel left and no record at Asterisk.

The row says whether the Originate ever reached Asterisk (as far as anyone can tell) and what that
means for the lead, so a compliance officer can see why a number was, or was not, dialled again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from dialer.store.db import Tx


@dataclass(frozen=True, slots=True)
class UnknownOutcome:
    """One attempt whose outcome stays unknown, and the note on its Originate."""

    call_id: str
    lead_id: int
    campaign_id: str
    originate_sent: str  # "no" (never reached Asterisk), "yes", or "unknown"
    detail: str


_UNKNOWN = ("INSERT INTO audit (at, kind, campaign_id, lead_id, call_id, verdict, rule, detail, actor) "
            "VALUES (?, 'outcome', ?, ?, ?, 'unknown', ?, ?, 'dialer')")


def _unknown_values(rows: Sequence[UnknownOutcome], now: float) -> list[tuple[object, ...]]:
    return [(now, r.campaign_id, r.lead_id, r.call_id, f"originate_sent={r.originate_sent}", r.detail) for r in rows]


async def record_unknown_outcomes(tx: Tx, rows: Sequence[UnknownOutcome], now: float) -> None:
    """Write one audit row (kind `outcome`, verdict `unknown`) per attempt, inside the caller's transaction."""
    if rows:
        await tx.executemany(_UNKNOWN, _unknown_values(rows, now))


def record_unknown_outcomes_in(conn: sqlite3.Connection, rows: Sequence[UnknownOutcome], now: float) -> None:
    """`record_unknown_outcomes` on the database thread (inside the engine's flush transaction)."""
    if rows:
        conn.executemany(_UNKNOWN, _unknown_values(rows, now))
