"""Report figures for one campaign or all, over a time range: the store's grouped counts
(`dialer.store.reports`; the SMS replies and recordings from their own tables here), added up.

Every figure is a count over the attempts table (and the audit, leads, recordings and SMS tables)
that a person can redo in SQL: attempts are counted by creation time in [since, until); calls and
text messages apart (`medium`). Definitions:
- answer rate: answered calls (a person, a machine, an abandoned or opted-out answer) / ended calls;
- numbers reached: distinct numbers where a person answered (answered, abandoned, opted out);
- abandon rate over 24 h and 30 days: exactly what the gate holds a campaign to (calls that ended
  in the 24 h / 30 days before `until`, or now), abandoned / live-answered;
- answer rate by local hour: each call counted in the hour it started at the callee's (the number's
  first time zone, UTC when it has none), the best hours being the highest rates among hours
  with enough calls;
- gate blocks: the gate's block decisions (and campaign holds) by rule, made in the range.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dialer.outcome import LIVE_ANSWER, Disposition
from dialer.reports.surveys import survey_report
from dialer.store import Database, Tx
from dialer.store import campaigns as campaign_store
from dialer.store import compliance as compliance_store
from dialer.store import reports as report_store
from dialer.store.reports import Scope

ANSWERED = tuple(sorted(d.value for d in (*LIVE_ANSWER, Disposition.MACHINE)))
LIVE = tuple(sorted(d.value for d in LIVE_ANSWER))
BEST_HOURS_MIN_CALLS = 5  # an hour with fewer calls is not called "best" on luck alone
QUARTER_S = 900  # every time zone's offset is a whole number of quarter hours


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def campaign_report(db: Database, campaign: str | None = None, *, since: float | None = None,
                          until: float | None = None, now: float | None = None,
                          tz: str | None = None, surveys: bool = False) -> dict[str, Any]:
    """The report for one campaign (or all): its figures, and the same figures per campaign.

    With `surveys`, also each survey campaign's answers per question (dialer.reports.surveys; it
    reads every answer of the range, so the wallboard's frequent refresh leaves it out).

    Each figure is one pass over the range, grouped by campaign; the whole is the sum of the
    campaigns (a lead, an attempt, an audit row belongs to one campaign), except the distinct
    numbers, which get a pass of their own. With `tz` (an IANA zone), the hourly figures count
    each call in its hour in that zone rather than in the callee's, and the range is also given
    in that zone (`since_local`, `until_local`).
    """
    now = now if now is not None else datetime.now(UTC).timestamp()
    scope = Scope(campaign, since, until)
    async with db.read() as tx:
        campaigns = {name: state.value for name, state in (await campaign_store.states_by_name(tx, campaign)).items()}
        parts = {name: _Part() for name in campaigns}

        def part(name: str) -> _Part:
            # Attempts of a campaign no longer in the campaigns table still count (in the whole).
            return parts.setdefault(name, _Part())

        await _calls(tx, scope, part)
        await _dispositions(tx, scope, part)
        await _per_lead(tx, scope, part)
        await _hours(tx, scope, part, tz)
        await _blocks(tx, scope, part)
        await _texts(tx, scope, part)
        await _recording_rows(tx, scope, part)
        await _lead_rows(tx, campaign, part)
        at = until if until is not None else now
        for name in parts:
            stats = await compliance_store.abandon_stats(tx, name, at)
            parts[name].abandon = [stats.abandoned_24h, stats.live_24h, stats.abandoned_30d, stats.live_30d]
        whole = _Part.total(parts.values())
        whole.numbers, whole.reached = await report_store.distinct_numbers(tx, scope, LIVE)
        recordings = await tx.fetchone("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'recordings'")
        survey_figures = await survey_report(tx, list(parts), since, until) if surveys else {}
    available = recordings is not None
    report = {"campaign": campaign, "since": _iso(since), "until": _iso(until), "generated_at": _iso(now),
              "timezone": tz, "since_local": _local_iso(since, tz), "until_local": _local_iso(until, tz),
              "hours_in": tz, "campaigns": campaigns, **whole.figures(available)}
    report["by_campaign"] = {name: parts[name].figures(available) for name in campaigns}
    report["surveys"] = survey_figures  # survey campaigns with answers: per question (dialer.reports.surveys)
    return report


@dataclass(slots=True)
class _Part:
    """Raw counts of one campaign (or, summed, of the whole report)."""

    calls: int = 0
    open: int = 0
    ended: int = 0
    answered: int = 0
    live: int = 0
    abandoned: int = 0
    numbers: int = 0
    reached: int = 0
    talk: float = 0.0
    talked: int = 0
    dispositions: Counter[str] = field(default_factory=Counter)
    per_lead: Counter[int] = field(default_factory=Counter)
    hour_calls: Counter[int] = field(default_factory=Counter)
    hour_answered: Counter[int] = field(default_factory=Counter)
    hour_ended: Counter[int] = field(default_factory=Counter)
    blocks: Counter[str] = field(default_factory=Counter)
    texts: Counter[str] = field(default_factory=Counter)
    text_failures: Counter[str] = field(default_factory=Counter)
    replies: int = 0
    opt_outs: int = 0
    recordings: Counter[str] = field(default_factory=Counter)
    leads: Counter[str] = field(default_factory=Counter)
    abandon: list[int] = field(default_factory=lambda: [0, 0, 0, 0])

    @classmethod
    def total(cls, parts: Iterable[_Part]) -> _Part:
        """The sum of several campaigns' counts (distinct numbers excepted: they do not add up)."""
        whole = cls()
        for p in parts:
            for name in ("calls", "open", "ended", "answered", "live", "abandoned", "talk", "talked", "replies",
                         "opt_outs"):
                setattr(whole, name, getattr(whole, name) + getattr(p, name))
            for name in ("dispositions", "per_lead", "hour_calls", "hour_answered", "hour_ended", "blocks", "texts",
                         "text_failures", "recordings", "leads"):
                getattr(whole, name).update(getattr(p, name))
            whole.abandon = [a + b for a, b in zip(whole.abandon, p.abandon, strict=True)]
        return whole

    def figures(self, recordings: bool) -> dict[str, Any]:
        """The report's figures from these counts."""
        hours = [{"hour": h, "calls": self.hour_calls[h], "answered": self.hour_answered[h],
                  "answer_rate": _rate(self.hour_answered[h], self.hour_ended[h])} for h in range(24)]
        leads = sum(self.per_lead.values())
        attempts = sum(n * count for n, count in self.per_lead.items())
        sent = sum(self.texts.values())
        missing = self.recordings.get("missing", 0) + self.recordings.get("broken", 0)
        return {
            "calls": self.calls,
            "ended": self.ended,
            "open_attempts": self.open,
            "unique_numbers": self.numbers,
            "numbers_reached": self.reached,
            "by_disposition": dict(sorted(self.dispositions.items(), key=lambda kv: (-kv[1], kv[0]))),
            "answer_rate": _rate(self.answered, self.ended),
            "abandon_rate": _rate(self.abandoned, self.live),
            "avg_talk_s": round(self.talk / self.talked, 2) if self.talked else None,
            "talk_s_total": round(self.talk, 2),
            "abandon_rate_24h": _rate(self.abandon[0], self.abandon[1]),
            "abandon_rate_30d": _rate(self.abandon[2], self.abandon[3]),
            "abandon_counts": {"abandoned_24h": self.abandon[0], "live_24h": self.abandon[1],
                               "abandoned_30d": self.abandon[2], "live_30d": self.abandon[3]},
            "leads_by_status": dict(sorted(self.leads.items())),
            "gate_blocks": dict(sorted(self.blocks.items(), key=lambda kv: (-kv[1], kv[0]))),
            "attempts_per_lead": {"leads": leads, "mean": round(attempts / leads, 2) if leads else None,
                                  "histogram": {str(n): self.per_lead[n] for n in sorted(self.per_lead)}},
            "answer_by_local_hour": hours,
            "best_hours": best_hours(hours),
            "recordings": {"available": recordings, "by_status": dict(sorted(self.recordings.items())),
                           "missing": missing if recordings else None},
            "recordings_missing": missing if recordings else None,
            "sms": {
                "sent": sent,
                "accepted": self.texts.get(Disposition.ACCEPTED.value, 0),
                "failed": self.texts.get(Disposition.FAILED.value, 0),
                "by_outcome": dict(sorted(self.texts.items(), key=lambda kv: (-kv[1], kv[0]))),
                "failures": dict(sorted(self.text_failures.items(), key=lambda kv: (-kv[1], kv[0]))),
                "acceptance_rate": _rate(self.texts.get(Disposition.ACCEPTED.value, 0), sent),
                "replies": self.replies,
                "opt_outs": self.opt_outs,
            },
        }


Parts = Callable[[str], _Part]


async def _calls(tx: Tx, scope: Scope, part: Parts) -> None:
    for r in await report_store.call_counts(tx, scope, ANSWERED, LIVE, Disposition.ABANDONED.value):
        p = part(r["campaign_id"])
        p.calls, p.open, p.ended = int(r["calls"]), int(r["open"] or 0), int(r["ended"] or 0)
        p.answered, p.live, p.abandoned = int(r["answered"] or 0), int(r["live"] or 0), int(r["abandoned"] or 0)
        p.numbers, p.reached = int(r["numbers"] or 0), int(r["reached"] or 0)
        p.talk, p.talked = float(r["talk"] or 0.0), int(r["talked"] or 0)


async def _dispositions(tx: Tx, scope: Scope, part: Parts) -> None:
    for r in await report_store.call_dispositions(tx, scope):
        part(r[0]).dispositions[r[1]] += int(r[2])


async def _per_lead(tx: Tx, scope: Scope, part: Parts) -> None:
    for r in await report_store.calls_per_lead(tx, scope):
        part(r[0]).per_lead[int(r[1])] += int(r[2])


@lru_cache(maxsize=4096)
def _local_hour(zone: str, quarter: int) -> int:
    try:
        tz = ZoneInfo(zone) if zone else UTC
    except (ZoneInfoNotFoundError, ValueError):
        tz = UTC
    return datetime.fromtimestamp(quarter * QUARTER_S, tz).hour


def _local_iso(ts: float | None, tz: str | None) -> str | None:
    if ts is None or tz is None:
        return None
    return datetime.fromtimestamp(ts, ZoneInfo(tz)).isoformat(timespec="seconds")


async def _hours(tx: Tx, scope: Scope, part: Parts, tz: str | None = None) -> None:
    rows = await report_store.calls_by_quarter(tx, scope, ANSWERED, QUARTER_S)
    for campaign, zones, quarter, calls, hits, ended in rows:
        first = (zones or "").split()
        hour = _local_hour(tz if tz is not None else (first[0] if first else ""), int(quarter))
        p = part(campaign)
        p.hour_calls[hour] += int(calls)
        p.hour_answered[hour] += int(hits or 0)
        p.hour_ended[hour] += int(ended or 0)


async def _blocks(tx: Tx, scope: Scope, part: Parts) -> None:
    for r in await report_store.gate_blocks(tx, scope):
        part(r[0] or "").blocks[r[1]] += int(r[2])


async def _texts(tx: Tx, scope: Scope, part: Parts) -> None:
    for r in await report_store.text_dispositions(tx, scope):
        part(r[0]).texts[r[1] or "pending"] += int(r[2])
    for r in await report_store.text_failures(tx, scope):
        part(r[0]).text_failures[r[1] or ""] += int(r[2])
    where, params = scope.where()
    for r in await tx.fetchall(
            "SELECT campaign_id, COUNT(*), SUM(CASE WHEN keyword IS NOT NULL THEN 1 ELSE 0 END) FROM sms_messages "
            f"WHERE direction = 'in' AND {where} GROUP BY campaign_id", params):
        p = part(r[0] or "")
        p.replies += int(r[1])
        p.opt_outs += int(r[2] or 0)


async def _recording_rows(tx: Tx, scope: Scope, part: Parts) -> None:
    if await tx.fetchone("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'recordings'") is None:
        return
    where, params = scope.where()
    for r in await tx.fetchall(
            f"SELECT campaign_id, status, COUNT(*) FROM recordings WHERE {where} GROUP BY campaign_id, status", params):
        part(r[0]).recordings[r[1]] += int(r[2])


async def _lead_rows(tx: Tx, campaign: str | None, part: Parts) -> None:
    for r in await report_store.lead_statuses(tx, campaign):
        part(r[0]).leads[r[1]] += int(r[2])


def best_hours(by_hour: list[dict[str, Any]], count: int = 3) -> list[int]:
    """The local hours with the highest answer rate among those with enough calls (or any calls)."""
    with_calls = [h for h in by_hour if h["answer_rate"] is not None]
    enough = [h for h in with_calls if h["calls"] >= BEST_HOURS_MIN_CALLS] or with_calls
    ranked = sorted(enough, key=lambda h: (-h["answer_rate"], -h["calls"], h["hour"]))
    return [h["hour"] for h in ranked[:count]]


def round_up(value: float) -> float:
    """A chart axis maximum: the value rounded up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)
