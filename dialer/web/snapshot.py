"""The wallboard's figures: what the store says (through the report code, so the page equals
`dialer report --format json` for the same range) and what the engine holds now (live calls).

Ranges are whole seconds, so the page can name them and `dialer report --since` can redo them:
today (since 00:00 UTC), the last 24 h, the last 30 days, the last hour (gate blocks). The abandon
rates over 24 h and 30 days are the gate's own figures (the report's `abandon_rate_24h/_30d`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dialer.numbers import mask, mask_text
from dialer.reports import campaign_report
from dialer.store import Database
from dialer.store.campaigns import campaign_states
from dialer.store.reports import originations_by_bucket, originations_since
from dialer.tracker import CallState, TrackedCall

HOUR_S = 3600
DAY_S = 86_400
MONTH_S = 30 * DAY_S
RATE_WINDOW_S = 60  # originations per second are counted over the last minute
SPARK_BUCKET_S = 10
SPARK_BUCKETS = 60  # ten minutes of originations, ten seconds a point


def day_start(now: float) -> int:
    """00:00 UTC of the day `now` is in."""
    moment = datetime.fromtimestamp(now, UTC)
    return int(moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())


def ranges(now: float) -> dict[str, int]:
    """The `since` of each range the page shows (unix s, whole seconds)."""
    at = math.floor(now)
    return {"today": day_start(now), "24h": at - DAY_S, "30d": at - MONTH_S, "1h": at - HOUR_S}


def iso(ts: float | None) -> str | None:
    """ISO-8601 UTC to the second, as the report writes it."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(slots=True)
class StoreFigures:
    """What the refreshes read from the store, in three tiers of cost (see `read_fast`, `read_reports`)."""

    at: float = 0.0  # the last refresh of any tier
    since: dict[str, int] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    outbox_backlog: int = 0
    today: dict[str, Any] | None = None  # the report since 00:00 UTC
    hour: dict[str, Any] | None = None  # the report over the last hour (gate blocks)
    day: dict[str, Any] | None = None  # the report over the last 24 h (long tier)
    month: dict[str, Any] | None = None  # the report over the last 30 days (long tier)
    reports_at: float | None = None
    long_at: float | None = None
    spark: dict[str, list[int]] = field(default_factory=dict)  # originations per SPARK_BUCKET_S, oldest first
    last_minute: dict[str, int] = field(default_factory=dict)  # originations in the last RATE_WINDOW_S


async def read_fast(db: Database, figures: StoreFigures, now: float) -> None:
    """Campaign states, the outbox backlog and recent originations: indexed reads, every second."""
    start = math.floor(now) - SPARK_BUCKET_S * SPARK_BUCKETS
    async with db.read() as tx:
        states = {name: str(state) for name, state in sorted((await campaign_states(tx)).items())}
        backlog = await tx.fetchone("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
        spark: dict[str, list[int]] = {}
        last_minute: dict[str, int] = {}
        for name in states:
            spark[name] = await originations_by_bucket(tx, name, start, SPARK_BUCKET_S, SPARK_BUCKETS)
            last_minute[name] = await originations_since(tx, name, now - RATE_WINDOW_S)
    figures.states, figures.spark, figures.last_minute = states, spark, last_minute
    figures.outbox_backlog = int(backlog[0]) if backlog else 0
    figures.at = now


async def read_reports(db: Database, figures: StoreFigures, now: float, *, long: bool) -> None:
    """The report code's figures: today and the last hour; with `long` (or the first time) also the
    last 24 h and 30 days, which scan the most rows."""
    since = ranges(now)
    figures.today = await campaign_report(db, None, since=since["today"], now=now)
    figures.hour = await campaign_report(db, None, since=since["1h"], now=now)
    figures.states = dict(figures.today["campaigns"])
    figures.since.update(today=since["today"], **{"1h": since["1h"]})
    figures.reports_at = now
    if long or figures.day is None:
        figures.day = await campaign_report(db, None, since=since["24h"], now=now)
        figures.month = await campaign_report(db, None, since=since["30d"], now=now)
        figures.since.update({"24h": since["24h"], "30d": since["30d"]})
        figures.long_at = now
    figures.at = now


def _part(report: Mapping[str, Any] | None, campaign: str) -> Mapping[str, Any]:
    if report is None:
        return {}
    parts: Mapping[str, Mapping[str, Any]] = report.get("by_campaign", {})
    return parts.get(campaign, {})


def live_counts(calls: Iterable[TrackedCall]) -> dict[str, dict[str, int]]:
    """Per campaign: calls live, ringing (originating included: the PBX is setting them up), answered."""
    counts: dict[str, dict[str, int]] = {}
    for call in calls:
        c = counts.setdefault(call.campaign_id, {"live": 0, "ringing": 0, "answered": 0})
        c["live"] += 1
        if call.state is CallState.ANSWERED:
            c["answered"] += 1
        elif call.state in (CallState.ORIGINATING, CallState.RINGING):
            c["ringing"] += 1
    return counts


def live_calls(calls: Iterable[TrackedCall], now: float, *, show_numbers: bool) -> dict[str, list[dict[str, Any]]]:
    """Per campaign: each live call's number (masked unless `show_numbers`), state and seconds in it."""
    out: dict[str, list[dict[str, Any]]] = {}
    for call in sorted(calls, key=lambda c: c.originated_at):
        since = call.answered_at if call.state is CallState.ANSWERED else call.ringing_at or call.originated_at
        out.setdefault(call.campaign_id, []).append({
            "number": call.number if show_numbers else mask(call.number),
            "state": call.state.value,
            "for_s": round(max(0.0, now - (since or now)), 1),
        })
    return out


@dataclass(frozen=True, slots=True)
class Pbx:
    """The AMI connection as the page shows it."""

    connected: bool
    connected_since: float | None
    last_reconnect: float | None
    address: str


def compose(store: StoreFigures, calls: list[TrackedCall], *, now: float, node: str, pbx: Pbx, draining: bool,
            alerts: Iterable[Mapping[str, Any]], windows: Mapping[str, Mapping[str, object]],
            abandon_limit: float, show_numbers: bool, configured: Iterable[str]) -> dict[str, Any]:
    """The document every page gets (the snapshot endpoint and each stream update)."""
    counts = live_counts(calls)
    live = live_calls(calls, now, show_numbers=show_numbers)
    campaigns: dict[str, Any] = {}
    for name in sorted(set(store.states) | set(configured)):
        today, hour = _part(store.today, name), _part(store.hour, name)
        day, month = _part(store.day, name), _part(store.month, name)
        leads = today.get("leads_by_status", {})
        left = int(leads.get("pending", 0)) + int(leads.get("dialing", 0))
        per_s = round(store.last_minute.get(name, 0) / RATE_WINDOW_S, 3)
        state = store.states.get(name, "unknown")
        # Only a campaign that dials runs out; a paused one keeps its leads however fast it went before.
        runs_out_in = round(left / per_s) if state == "active" and per_s > 0 and left else None
        campaigns[name] = {
            "state": state,
            **counts.get(name, {"live": 0, "ringing": 0, "answered": 0}),
            "originations_per_s": per_s,
            "answer_rate": {"today": today.get("answer_rate"), "24h": day.get("answer_rate"),
                            "30d": month.get("answer_rate")},
            "abandon_rate": {"today": today.get("abandon_rate"), "24h": today.get("abandon_rate_24h"),
                             "30d": today.get("abandon_rate_30d")},
            "calls_today": today.get("calls", 0),
            "leads_left": left,
            "leads_by_status": dict(leads),
            "runs_out_in_s": runs_out_in,
            "runs_out_at": iso(now + runs_out_in) if runs_out_in is not None else None,
            "gate_blocks_1h": dict(hour.get("gate_blocks", {})),
            "window": dict(windows.get(name, {"open": None, "groups": 0, "open_groups": 0, "next_open_at": None})),
            "spark": store.spark.get(name, [0] * SPARK_BUCKETS),
            "calls": live.get(name, []),
        }
        at = campaigns[name]["window"].get("next_open_at")
        campaigns[name]["window"]["next_open"] = iso(at) if isinstance(at, int | float) else None
    shown_alerts = [dict(a) if show_numbers else {**a, "message": mask_text(str(a.get("message", "")))}
                    for a in alerts]
    return {
        "node": node,
        "generated_at": iso(now),
        "store_at": iso(store.at),
        "reports_at": iso(store.reports_at),
        "long_at": iso(store.long_at),
        "since": {key: iso(value) for key, value in store.since.items()},
        "abandon_limit": abandon_limit,
        "spark_bucket_s": SPARK_BUCKET_S,
        "draining": draining,
        "pbx": {"connected": pbx.connected, "since": iso(pbx.connected_since),
                "last_reconnect": iso(pbx.last_reconnect), "address": pbx.address},
        "outbox_backlog": store.outbox_backlog,
        "campaigns": campaigns,
        "alerts": shown_alerts,
        "agents": None,  # filled by the agents issue: the page keeps a section for it
    }
