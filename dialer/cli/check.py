"""`dialer check NUMBER` (one verdict, every rule explained) and `dialer scrub CAMPAIGN` (a whole list).

Both judge with the daemon's judging function (dialer.pipeline.judging.judge) and facts: the DNC
lists and registries it loads (LiveCompliance), and, for the campaign's medium (calls or texts), the
attempt history, consents and abandon counts it reads from the store before sending.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

import typer

from dialer.cli.common import ConfigOption, WorkdirOption, fail, out, resolve_config
from dialer.cli.compliance_args import (
    InputError,
    check_campaign,
    check_region,
    iso,
    open_store,
    parse_time,
    quiet_logs,
    strip_formatting,
)
from dialer.cli.progress import Advance, progress
from dialer.clock import SystemClock, to_datetime
from dialer.compliance import Decision, Gate, GateRequest, explain, scrub_counts
from dialer.compliance.factory import default_rules
from dialer.compliance.live import LiveCompliance
from dialer.compliance.rules.abandon import ABANDON_RATE
from dialer.compliance.rules.caller_id import CALLER_ID
from dialer.compliance.rules.number import screen_number
from dialer.compliance.rules.presets import ABANDON_RATE as PRESET_ABANDON_RATE
from dialer.config import Config
from dialer.numbers import NumberType, PhoneNumber
from dialer.pipeline.judging import Candidate, judge
from dialer.pipeline.medium import gate_profile
from dialer.store import leads as lead_store

# Rules about a campaign rather than a number: `check` without --campaign does not run them.
CAMPAIGN_RULES = frozenset({CALLER_ID, ABANDON_RATE, PRESET_ABANDON_RATE})
SCRUB_BATCH = 2000


class OutputFormat(StrEnum):
    """Output formats of check and scrub."""

    TEXT = "text"
    JSON = "json"


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""
    app.command("check")(check)
    app.command("scrub")(scrub)


def _gate(live: LiveCompliance, campaign: str | None) -> Gate:
    if campaign is not None:
        return live.gate
    rules = default_rules(live.index, live.config.preset_catalog())
    return Gate([r for r in rules if r.id not in CAMPAIGN_RULES], floor=live.floor())


def check(
    number: Annotated[str, typer.Argument(help="The number, national (see --region) or international (+...).")],
    campaign: Annotated[str | None, typer.Option(help="Judge for this campaign (default: global policy).")] = None,
    region: Annotated[str | None, typer.Option(
        help="Region for national numbers (default: the campaign's, or US).")] = None,
    at: Annotated[str | None, typer.Option(help="ISO-8601 time with UTC offset (default: now).")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="text or json.")] = OutputFormat.TEXT,
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Would the dialer call NUMBER? Prints the verdict and every rule's result (the number masked).

    Exit code 0: allow, 1: block, 2: usage error. Spaces and parentheses in NUMBER are ignored.
    """
    quiet_logs()
    resolved = resolve_config(config, workdir)
    check_campaign(resolved, campaign)
    default_region = check_region(region or (resolved.campaigns[campaign].default_region if campaign else "US"))
    try:
        now = parse_time(at) if at is not None else SystemClock().now()
    except InputError as exc:
        fail(f"--at: {exc}", 2)
    decision = asyncio.run(_check(resolved, strip_formatting(number), campaign, default_region, now))
    if fmt is OutputFormat.JSON:
        print(json.dumps({**explain(decision), "campaign": campaign, "at": iso(now)}))
    else:
        _print_decision(decision, campaign, now)
    raise typer.Exit(0 if decision.allowed else 1)


async def _check(config: Config, raw: str, campaign: str | None, region: str, now: float) -> Decision:
    async with open_store(config, create=False) as db:
        live = await LiveCompliance.load(config, db, SystemClock())
        probe = GateRequest(number=raw, default_region=region, policy=config.compliance_for(campaign))
        screened = screen_number(probe)
        number = screened if isinstance(screened, PhoneNumber) else None
        # The campaign's medium decides the facts and rules, as for the daemon (judging.judge).
        profile = gate_profile(config.campaigns[campaign] if campaign is not None else None)
        async with db.read() as tx:
            decisions = await judge(tx, _gate(live, campaign), config, campaign, profile, [Candidate(raw, number)],
                                    now, to_datetime(now), region=region, explain=True)
    return decisions[0]


def _print_decision(decision: Decision, campaign: str | None, now: float) -> None:
    scope = (f"campaign {campaign}" if campaign
             else "global policy (no campaign: caller ID and abandon rate not checked)")
    verdict = decision.verdict.value.upper()
    out.print(f"{decision.masked_number or '(no number)'}: {verdict} at {iso(now)} for {scope}", markup=False)
    if not decision.allowed:
        out.print(f"  decided by {decision.rule}: {decision.detail}", markup=False)
    if decision.retry_at is not None:
        out.print(f"  temporary: may be called again from {iso(decision.retry_at)}", markup=False)
    width = max((len(r.rule) for r in decision.results), default=4)
    for result in decision.results:
        out.print(f"  {result.rule:<{width}}  {result.verdict.value:<5}  {result.detail}", markup=False)


# -- scrub -----------------------------------------------------------------------------------------


def scrub(
    campaign: Annotated[str, typer.Argument(help="Campaign whose lead list to check.")],
    at: Annotated[str | None, typer.Option(help="ISO-8601 time with UTC offset (default: now).")] = None,
    all_leads: Annotated[bool, typer.Option(
        "--all", help="Also leads already finished, exhausted or blocked.")] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="text or json.")] = OutputFormat.TEXT,
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Run a campaign's whole lead list through the gate without dialling; counts per deciding rule."""
    quiet_logs()
    resolved = resolve_config(config, workdir)
    check_campaign(resolved, campaign)
    try:
        now = parse_time(at) if at is not None else SystemClock().now()
    except InputError as exc:
        fail(f"--at: {exc}", 2)
    with progress(f"judging {campaign}'s leads") as advance:
        tally, elapsed = asyncio.run(_scrub(resolved, campaign, now, all_leads, advance))
    counts = dict(sorted(tally.by_rule.items(), key=lambda item: (-item[1], item[0])))  # as scrub_counts
    allowed = counts.get("allow", 0)
    report: dict[str, Any] = {
        "campaign": campaign, "at": iso(now), "leads": tally.leads, "allowed": allowed,
        "blocked": tally.leads - allowed, "blocked_temporarily": tally.temporary, "by_rule": counts,
        "elapsed_s": round(elapsed, 3),
    }
    if fmt is OutputFormat.JSON:
        print(json.dumps(report))
        return
    out.print(f"{campaign}: {tally.leads} leads at {iso(now)}: {allowed} allowed, "
              f"{report['blocked']} blocked ({tally.temporary} only for now)", markup=False)
    width = max((len(rule) for rule in counts), default=5)
    for rule, count in counts.items():
        out.print(f"  {rule:<{width}}  {count}")


@dataclass
class Tally:
    """Scrub results, counted batch by batch: holding 10^5 decisions (and their rule results) would
    keep millions of objects alive for the garbage collector to walk again and again."""

    leads: int = 0
    temporary: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)

    def add(self, decisions: list[Decision]) -> None:
        """Count one batch."""
        self.leads += len(decisions)
        self.temporary += sum(1 for d in decisions if not d.allowed and d.retry_at is not None)
        self.by_rule.update(scrub_counts(decisions))


async def _scrub(config: Config, campaign: str, now: float, all_leads: bool,
                 advance: Advance | None = None) -> tuple[Tally, float]:
    """The campaign's leads judged, and the seconds spent reading leads and facts and judging them."""
    statuses = None if all_leads else lead_store.OPEN_STATUSES
    tally = Tally()
    when = to_datetime(now)
    async with open_store(config, create=False) as db:
        live = await LiveCompliance.load(config, db, SystemClock())
        # Everything loaded so far (numbering and holiday metadata, the index) lives until exit:
        # keep the collector from walking it again after every few batches.
        gc.freeze()
        profile = gate_profile(config.campaigns[campaign])
        started = time.perf_counter()
        last = ""
        total = None
        if advance is not None:
            async with db.read() as tx:
                total = await lead_store.count_in_campaign(tx, campaign, statuses)
        while True:
            async with db.read() as tx:
                rows = await lead_store.numbers_page(tx, campaign, last, SCRUB_BATCH, statuses)
                if not rows:
                    break
                last = rows[-1].number
                candidates = [Candidate(row.number, PhoneNumber(row.number, row.region, NumberType(row.number_type),
                                                                tuple(row.zones.split()) if row.zones else ()))
                              for row in rows]
                batch = await judge(tx, live.gate, config, campaign, profile, candidates, now, when)
            tally.add(batch)
            if advance is not None:
                advance(tally.leads, total)
        elapsed = time.perf_counter() - started
    return tally, elapsed
