"""The one judging function: for (campaign, medium) and a batch of numbers, the gate requests and
their decisions. The engine and the SMS sender judge the leads they claimed with it before sending;
`dialer check` and `dialer scrub` judge with it and send nothing, so all four give the same verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from dialer.compliance import AbandonStats, Channel, Decision, Gate, GateRequest, NumberHistory
from dialer.compliance.preset_catalog import needs_debt_history
from dialer.config.models import Config
from dialer.numbers import NumberType, PhoneNumber
from dialer.pipeline.medium import GateProfile
from dialer.store import Tx, debts
from dialer.store import calls as calls_store
from dialer.store import compliance as compliance_store
from dialer.store.calls import DueLead


@dataclass(frozen=True, slots=True)
class Candidate:
    """One number to judge: its stored E.164 (or the raw text `dialer check` was given) and, when known,
    its normalised facts (region, type, zones)."""

    number: str
    normalised: PhoneNumber | None


def lead_candidate(lead: DueLead) -> Candidate:
    """A claimed lead as a candidate (its stored number facts, no re-parsing)."""
    return Candidate(lead.number, PhoneNumber(lead.number, lead.region, NumberType(lead.number_type), lead.zones))


async def judge(tx: Tx, gate: Gate, config: Config, campaign: str | None, profile: GateProfile,
                candidates: Sequence[Candidate], now: float, when: datetime, *,
                abandon: AbandonStats | None = None, region: str | None = None, explain: bool = False,
                stop_at_campaign_wide: bool = False) -> list[Decision]:
    """Read the facts the gate needs for `profile` (histories of that medium, per-debt counts when a
    preset needs them, consents, the campaign's abandon counts for calls) and judge each candidate.

    `abandon` passes counts the caller already holds (the engine caches them); `region` overrides the
    campaign's default region for national numbers (`dialer check --region`). With
    `stop_at_campaign_wide` the list ends at the first campaign-wide block: the campaign, not the
    number, is stopped, and the leads after it are not judged.
    """
    policy = gate.tightened(profile.policy(config, campaign))
    campaign_config = config.campaigns.get(campaign) if campaign is not None else None
    caller_id = profile.caller_id(campaign_config)
    if region is None:
        region = campaign_config.default_region if campaign_config is not None else "US"
    keys = [c.normalised.e164 if c.normalised is not None else c.number for c in candidates]
    known = [k for k, c in zip(keys, candidates, strict=True) if c.normalised is not None]
    histories = await calls_store.number_histories(tx, known, now, medium=profile.kind) if known else {}
    # Regulation F counts per debt; the preset rules judge calls only, so texts skip the read.
    if (known and policy.presets and profile.channel is Channel.CALL
            and needs_debt_history(policy.presets, config.preset_catalog())):
        histories = await debts.with_debts(tx, histories, now)
    consents = await compliance_store.consents_for(tx, known) if known else {}
    if abandon is None:
        abandon = AbandonStats()
        if profile.counts_abandon and campaign is not None:
            abandon = await compliance_store.abandon_stats(tx, campaign, now)
    decisions: list[Decision] = []
    for key, candidate in zip(keys, candidates, strict=True):
        decision = gate.check(GateRequest(
            number=key, default_region=region, policy=policy, campaign=campaign, caller_id=caller_id,
            history=histories.get(key, NumberHistory()), normalised=candidate.normalised, channel=profile.channel,
            consents=consents.get(key, ()), abandon_stats=abandon,
        ), when, explain=explain)
        decisions.append(decision)
        if stop_at_campaign_wide and decision.campaign_wide:
            break
    return decisions
