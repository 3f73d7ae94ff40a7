"""Retention: recordings older than their campaign's `retention_days` are deleted, one audit row per
file, unless a legal hold covers the call or its campaign. Shared by the daemon and the CLI.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import structlog

from dialer.compliance.preset_model import RecordingRule, RetentionRule
from dialer.config import Config
from dialer.recordings import removal, store
from dialer.recordings.config import RecordingsConfig, campaign_settings
from dialer.store import Database

log = structlog.get_logger("dialer.recordings")

DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class Purged:
    """One file the purge deleted (or, in a dry run, would delete)."""

    call_id: str
    campaign_id: str
    path: str
    created_at: float
    retention_days: int


@dataclass(slots=True)
class PurgeReport:
    """What one purge did."""

    dry_run: bool
    files: list[Purged] = field(default_factory=list)
    held: int = 0  # files past retention kept by a legal hold
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def retention_days(config: Config, campaign: str) -> int:
    """The campaign's retention, never shorter than its presets' minimum (cn-insurance: 5 years).

    A campaign no longer in the config has the global retention, but no shorter than the longest
    minimum of any preset the config still names: the purge cannot tell which presets it was under.
    """
    own = config.campaigns[campaign].recordings if campaign in config.campaigns else None
    days = campaign_settings(config.recordings, own)[1]
    return max(days, preset_minimum_days(config, campaign))


def preset_minimum_days(config: Config, campaign: str) -> int:
    """The longest recording retention the campaign's presets demand (0 when none does)."""
    if campaign in config.campaigns:
        presets: tuple[str, ...] = config.compliance_for(campaign).presets
    else:
        presets = tuple(sorted({p for name in config.campaigns for p in config.compliance_for(name).presets}
                               | set(config.compliance.presets)))
    if not presets:
        return 0
    rules = config.preset_catalog().campaign_rules(presets, RetentionRule)
    return max((applied.rule.days for applied in rules), default=0)


def required_by_preset(config: Config, campaign: str) -> str:
    """"; preset NAME requires every call recorded (SECTION)" for a campaign under such a preset, else ""."""
    if campaign not in config.campaigns:
        return ""
    presets = config.compliance_for(campaign).presets
    rules = config.preset_catalog().campaign_rules(presets, RecordingRule) if presets else ()
    return "".join(f"; preset {a.preset.name} requires every call recorded ({a.cite})" for a in rules)


async def purge(db: Database, config: Config, now: float, *, dry_run: bool = False, actor: str = "dialer",
                batch: int = 500) -> PurgeReport:
    """Delete every recording past its campaign's retention that no legal hold covers.

    The file goes first, then its row and audit row: a crash in between leaves a row whose file is
    already gone, and the next purge finishes it (deleting a file that is not there is not an error).
    """
    report = PurgeReport(dry_run=dry_run)
    async with db.read() as tx:
        campaigns = await store.campaigns_with_files(tx)
    for campaign in campaigns:
        days = retention_days(config, campaign)
        cutoff = now - days * DAY_S
        async with db.read() as tx:
            due = await store.purge_candidates(tx, campaign, cutoff)
            everything = await tx.fetchone(
                "SELECT COUNT(*) AS n FROM recordings WHERE campaign_id = ? AND status IN ('archived', 'broken') "
                "AND path IS NOT NULL AND created_at < ?", (campaign, cutoff))
        report.held += int(everything["n"] if everything else 0) - len(due)
        for start in range(0, len(due), batch):
            await _purge_batch(db, due[start:start + batch], days, config.recordings, now, dry_run, actor, report)
    if report.files or report.failed:
        log.info("recordings_purged", dry_run=dry_run, files=len(report.files), held=report.held,
                 failed=len(report.failed))
    return report


async def _purge_batch(db: Database, rows: list[store.Row], days: int, settings: RecordingsConfig, now: float,
                       dry_run: bool, actor: str, report: PurgeReport) -> None:
    items = [Purged(row["call_id"], row["campaign_id"], row["path"], row["created_at"], days) for row in rows]
    if dry_run:
        report.files.extend(items)
        return
    errors = await asyncio.to_thread(_delete_files, [item.path for item in items], settings)
    done = [(row, item) for row, item in zip(rows, items, strict=True) if item.path not in errors]
    report.failed.extend(errors.items())
    if not done:
        return
    async with db.write() as tx:
        for row, item in done:
            detail = f"deleted {item.path} sha256={row['sha256']} after {days} days of retention"
            await store.mark_purged(tx, row, now, detail, actor)
    report.files.extend(item for _, item in done)


def _delete_files(paths: list[str], settings: RecordingsConfig) -> dict[str, str]:
    """Delete the files inside the archive (a missing one counts as deleted), never through a link,
    and the folders they leave empty; returns {path: reason} for the files not deleted."""
    errors = {}
    for path in paths:
        problem = removal.delete_one(settings, path, archive_only=True, prune=True)
        if problem is not None:
            errors[path] = problem.reason
    return errors


async def place_hold(db: Database, scope: str, target: str, reason: str, now: float, actor: str) -> bool:
    """Put a legal hold on a call or a campaign (audited); False if one is already active."""
    async with db.write() as tx:
        placed = await store.add_hold(tx, scope, target, reason, now, actor)
        if placed:
            await store.audit(tx, now, "recording_hold", target if scope == "campaign" else None,
                              target if scope == "call" else None, f"legal hold on {scope} {target}: {reason}", actor)
    return placed


async def lift_hold(db: Database, scope: str, target: str, now: float, actor: str) -> bool:
    """Release the legal hold on a call or a campaign (audited); False if there was none."""
    async with db.write() as tx:
        released = await store.release_hold(tx, scope, target, now, actor)
        if released:
            await store.audit(tx, now, "recording_release", target if scope == "campaign" else None,
                              target if scope == "call" else None, f"legal hold on {scope} {target} released", actor)
    return released
