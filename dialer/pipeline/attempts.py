"""The shared steps of one turn of a campaign, for every medium.

claim due leads -> gate sync (the DNC index catches up) -> judge (`judging.judge`) -> audit rows,
attempt rows and blocked leads (`record_decisions`) -> the medium's own rows -> tx hooks -> commit
-> campaign hold or its lift (and its alert) -> event hooks -> the medium sends. The transaction is
durable: an attempt row survives a power loss before its Originate or message is sent.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import structlog

from dialer.alerts import Alert
from dialer.clock import Clock, to_datetime
from dialer.compliance import AbandonStats, Decision, Gate
from dialer.compliance.holds import CampaignHolds
from dialer.config.models import CampaignConfig, Config
from dialer.events import CallEvent, EventHook, TxHook
from dialer.ids import readable_token
from dialer.numbers import mask, number_hash
from dialer.pipeline.judging import judge, lead_candidate
from dialer.pipeline.medium import Medium, Unsendable
from dialer.store import Database, Tx
from dialer.store import calls as store
from dialer.store import compliance as compliance_store

log = structlog.get_logger("dialer.pipeline")

# Alert kinds for the campaign-wide blocks that hold a campaign.
HOLD_ALERTS = {"abandon_rate": "abandon_rate_limit", "dnc.registry_age": "registry_stale",
               "caller_id": "caller_id_invalid"}

P = TypeVar("P")
OutT = TypeVar("OutT")


class PipelineHost(Protocol):
    """What the pipeline reads from the part that runs it (today the engine): attributes that a
    reload or the compliance part may replace, so they are read at every turn."""

    config: Config
    db: Database
    gate: Gate
    clock: Clock
    holds: CampaignHolds
    gate_sync: list[Callable[[Tx], Awaitable[None]]]
    tx_hooks: list[TxHook]
    event_hooks: list[EventHook]

    def alert(self, kind: str, message: str, **data: Any) -> Alert:
        """Raise an alert."""
        ...


@dataclass(frozen=True, slots=True)
class TurnResult:
    """What one turn of a campaign did."""

    claimed: int
    sent: int
    blocked: int
    refused_live: int
    held: Decision | None


def new_attempt_id(kind: str) -> str:
    """A fresh attempt id (the ActionID, and for calls the channel's Uniqueid): `c…` or `m…`."""
    return readable_token("m" if kind == "sms" else "c")


class AttemptPipeline(Generic[P, OutT]):
    """Runs the shared steps for one medium; see the module docstring."""

    def __init__(self, host: PipelineHost, medium: Medium[P, OutT], hash_key: bytes) -> None:
        self._host = host
        self._medium = medium
        self._key = hash_key

    async def turn(self, name: str, campaign: CampaignConfig, limit: int, *,
                   abandon: AbandonStats | None = None) -> TurnResult:
        """Claim up to `limit` due leads of campaign `name`, judge, record and send them."""
        host, medium = self._host, self._medium
        kind = medium.gate.kind
        now = host.clock.now()
        node = host.config.node.name
        allowed: list[tuple[store.NewAttempt, store.DueLead, P]] = []
        blocked: list[store.BlockedLead] = []
        unsendable: list[Unsendable] = []
        held: Decision | None = None
        async with host.db.write(durable=True) as tx:
            due = await store.claim_due(tx, name, now, limit)
            if not due:
                return TurnResult(0, 0, 0, 0, None)
            for sync in host.gate_sync:
                await sync(tx)
            decisions = await judge(tx, host.gate, host.config, name, medium.gate,
                                    [lead_candidate(lead) for lead in due], now, to_datetime(now),
                                    abandon=abandon, stop_at_campaign_wide=True)
            passed: list[tuple[store.GateRecord, store.DueLead]] = []
            for lead, decision in zip(due, decisions, strict=False):
                if decision.campaign_wide:
                    # The campaign, not this number, is blocked: hold it, leave the leads as they are.
                    held = decision
                    await compliance_store.record_hold(tx, name, decision.rule, decision.detail, now)
                    break
                record = store.GateRecord(lead.lead_id, name, number_hash(lead.number, self._key), mask(lead.number),
                                          decision.verdict.value, decision.rule, decision.detail)
                if decision.allowed:
                    passed.append((record, lead))
                else:
                    blocked.append(store.BlockedLead(record, decision.retry_at))
                    log.info("gate_blocked", campaign=name, lead=lead.lead_id, number=mask(lead.number),
                             rule=decision.rule, detail=decision.detail, medium=kind)
            if passed:
                payloads = await medium.prepare(tx, name, campaign, [lead for _, lead in passed])
                for (record, lead), payload in zip(passed, payloads, strict=True):
                    if isinstance(payload, Unsendable):
                        unsendable.append(payload)
                    else:
                        attempt = store.NewAttempt(record, new_attempt_id(kind), lead.number, node, kind)
                        allowed.append((attempt, lead, payload))
            result = await store.record_decisions(tx, [a for a, _, _ in allowed], blocked, now)
            outgoing = [medium.began(name, campaign, lead, attempt, result.attempt_ids[attempt.call_id], payload, now)
                        for attempt, lead, payload in allowed if attempt.call_id in result.attempt_ids]
            await medium.record(tx, name, outgoing, unsendable, self._key, now)
            events = [medium.event(item) for item in outgoing]
            await run_tx_hooks(tx, host.tx_hooks, events)
        # Committed: every attempt below has its allow decision and its attempt row on disk.
        if held is not None:
            self._hold(name, held, host.config.compliance_for(name).campaign_recheck_s, now)
        elif outgoing:
            host.holds.lift(name)
        for reject in unsendable:
            log.warning("not_sendable", campaign=name, lead=reject.lead.lead_id, number=mask(reject.lead.number),
                        rule=reject.rule, detail=reject.detail, medium=kind)
        run_event_hooks(host.event_hooks, events)
        for item in outgoing:
            medium.send(name, campaign, item)
        return TurnResult(len(due), len(outgoing), len(blocked), len(result.refused), held)

    def _hold(self, name: str, decision: Decision, recheck_s: float, now: float) -> None:
        host = self._host
        until = decision.retry_at if decision.retry_at is not None else now + recheck_s
        started = host.holds.hold(name, decision.rule, decision.detail, now, until)
        log.warning("campaign_held", campaign=name, rule=decision.rule, until=until, detail=decision.detail)
        if started:
            host.alert(HOLD_ALERTS.get(decision.rule, "campaign_held"),
                       f"campaign {name} stopped by {decision.rule}: {decision.detail}",
                       campaign=name, rule=decision.rule, until=until)


async def run_tx_hooks(tx: Tx, hooks: Sequence[TxHook], events: Sequence[CallEvent]) -> None:
    """Run the tx hooks over `events` inside `tx` (their rows commit with the attempt's change)."""
    if events and hooks:
        await tx.run(call_tx_hooks_in, list(hooks), events)


def run_event_hooks(hooks: Sequence[EventHook], events: Sequence[CallEvent]) -> None:
    """Hand committed events to the event hooks; a failing observer must not stop dialing or sending."""
    if not events:
        return
    for hook in hooks:
        try:
            hook(events)
        except Exception:
            log.exception("event_hook_failed", hook=getattr(hook, "__qualname__", repr(hook)))


def call_tx_hooks_in(conn: sqlite3.Connection, hooks: Sequence[TxHook], events: Sequence[CallEvent]) -> None:
    """Run the tx hooks on the database thread, inside the transaction that writes the events' changes."""
    for hook in hooks:
        hook(conn, events)
