"""The `campaigns` table: one row per campaign with its state (active, paused, finished)."""

from __future__ import annotations

from collections.abc import Iterable

from dialer.store.db import Tx
from dialer.store.states import CampaignState


async def ensure_campaigns(tx: Tx, names: Iterable[str], now: float) -> None:
    """Create a campaigns row (state active) for every configured campaign that has none."""
    await tx.executemany(
        "INSERT INTO campaigns (id, state, created_at, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (id) DO NOTHING",
        [(name, CampaignState.ACTIVE, now, now) for name in names],
    )


async def campaign_states(tx: Tx) -> dict[str, CampaignState]:
    """State of every campaign in the database."""
    return {row["id"]: CampaignState(row["state"]) for row in await tx.fetchall("SELECT id, state FROM campaigns")}


async def campaign_state(tx: Tx, campaign: str) -> CampaignState | None:
    """The state of one campaign; None if the database has no such campaign."""
    row = await tx.fetchone("SELECT state FROM campaigns WHERE id = ?", (campaign,))
    return None if row is None else CampaignState(row[0])


async def campaign_ids(tx: Tx) -> list[str]:
    """Every campaign in the database, by name."""
    return [str(row[0]) for row in await tx.fetchall("SELECT id FROM campaigns ORDER BY id")]


async def states_by_name(tx: Tx, campaign: str | None = None) -> dict[str, CampaignState]:
    """Campaign -> state in name order: every campaign, or only `campaign` (empty if unknown)."""
    if campaign is None:
        rows = await tx.fetchall("SELECT id, state FROM campaigns ORDER BY id")
    else:
        rows = await tx.fetchall("SELECT id, state FROM campaigns WHERE id = ?", (campaign,))
    return {str(row[0]): CampaignState(row[1]) for row in rows}


async def set_state(tx: Tx, campaign: str, state: CampaignState, now: float) -> bool:
    """Set a campaign's state; False if the database has no such campaign."""
    changed = await tx.execute("UPDATE campaigns SET state = ?, updated_at = ? WHERE id = ?", (state, now, campaign))
    return changed > 0
