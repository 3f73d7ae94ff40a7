"""The SMS sender: campaigns of kind `sms`, lead by lead through the same gate as calls.

Per turn and campaign: claim due leads, sync the DNC index (the engine's gate_sync hooks), render
each lead's message from its contact, let the gate judge it as channel `sms` (consent, DNC, window,
the SMS frequency caps), then commit the audit rows, the attempt rows (medium `sms`, state
originating) and the message rows in one transaction, and only then send the actions. Each
answer ends its attempt: `accepted`, or `failed` with the reason Asterisk gave; the lead follows
the campaign's retry rules. The engine's tx and event hooks see every change as a CallEvent with
medium `sms`, so whatever publishes calls (the MQTT outbox) publishes messages too.

A lead whose contact lacks a placeholder's value, or whose message Asterisk could not carry, is
not sent: it ends `invalid` with an audit row naming what is missing.

Only an answer Asterisk gives for a message it did not send (SEND_REFUSALS) ends `failed`, and
may be retried. Any other answer, none within the action timeout, the connection lost, or a
restart before the answer: the text may be on its way, so the attempt ends `unknown`, an
`sms_unconfirmed` audit row says so, and the lead is finished, never resent blind (issue 11).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from dialer.ami.answers import Answer, judge_future
from dialer.ami.errors import AmiDisconnected
from dialer.ami.frames import Message
from dialer.clock import Clock, to_datetime
from dialer.compliance import AbandonStats, Channel, CompliancePolicy, Decision, GateRequest
from dialer.config.models import CampaignConfig, Config
from dialer.events import CallEvent, TxHook
from dialer.ids import readable_token
from dialer.numbers import NumberType, PhoneNumber, mask, mask_text, number_hash
from dialer.outcome import Disposition
from dialer.pacer import TokenBucket
from dialer.retry import LeadStatus, LeadStep, next_step
from dialer.sms.actions import BodyError, outcome_detail, send_fields, send_refused
from dialer.sms.template import MissingPlaceholder, parse_template, template_values
from dialer.store import Database, Tx
from dialer.store import calls as store
from dialer.store import campaigns as campaign_store
from dialer.store import compliance as compliance_store
from dialer.store import contacts as contact_store
from dialer.store.audit import AuditEntry, add_entry
from dialer.store.states import CampaignState
from dialer.tasks import PartTasks
from dialer.tracker import CallState

if TYPE_CHECKING:
    from dialer.engine import Engine

log = structlog.get_logger("dialer.sms")

POLL_S = 0.2
STATES_TTL_S = 1.0
# A message that may have been sent: its lead is not sent to again by the retry rules.
MAYBE_SENT = frozenset({Disposition.UNKNOWN, Disposition.UNKNOWN_AFTER_RESTART})


def new_message_id() -> str:
    """A fresh id for one message: the attempt's call id and the action's ActionID."""
    return readable_token("m")


def sms_policy(config: Config, campaign: str) -> CompliancePolicy:
    """The campaign's policy with the SMS frequency caps: messages are capped apart from calls, and
    never more loosely than the campaign's own limits (the gate's floor keeps the global ones)."""
    base = config.compliance_for(campaign)
    caps = config.sms
    return base.model_copy(update={
        "max_attempts_per_24h": min(base.max_attempts_per_24h, caps.max_per_24h),
        "max_attempts_per_7d": min(base.max_attempts_per_7d, caps.max_per_7d),
        "min_attempt_gap_s": max(base.min_attempt_gap_s, caps.min_gap_s),
    })


@dataclass(slots=True)
class _InFlight:
    """A message sent, waiting for Asterisk's answer."""

    attempt_id: int
    lead_id: int
    campaign: str
    number: str
    created_at: float
    sent_mono: float


@dataclass(frozen=True, slots=True)
class _Unsendable:
    """A lead whose message cannot be made: the reason (names only, never values)."""

    lead: store.DueLead
    rule: str
    detail: str


class SmsSender:
    """Sends the messages of every active SMS campaign; a daemon component."""

    name = "sms"

    def __init__(self, engine: Engine, db: Database, clock: Clock) -> None:
        self.engine = engine
        self.db = db
        self.clock = clock
        sms = engine.config.sms
        self._bucket = TokenBucket(sms.messages_per_s, max(1, int(sms.messages_per_s)), clock.monotonic())
        self._in_flight: dict[str, _InFlight] = {}
        self._finals: list[tuple[str, Disposition, str, float]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._states: dict[str, CampaignState] = {}
        self._states_at = -1e9
        self._held: dict[str, float] = {}  # campaign -> until (a campaign-wide block)
        self.sent = 0
        self.blocked = 0

    # -- lifetime ------------------------------------------------------------------------------

    async def start(self, parts: PartTasks) -> None:
        """Settle messages left unanswered by a previous run, then start the loop."""
        await self._settle_unfinished()
        self._task = parts.spawn(self._run(), "sms-sender")

    async def stop(self) -> None:
        """Send nothing new; wait (up to the AMI action timeout) for answers, record everything."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        deadline = self.clock.monotonic() + self.engine.config.ami.action_timeout_s
        while self._unanswered() and (left := deadline - self.clock.monotonic()) > 0:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), left)
        self._expire(force=True)
        await self.flush()

    def _unanswered(self) -> bool:
        answered = {f[0] for f in self._finals}
        return any(message_id not in answered for message_id in self._in_flight)

    async def _settle_unfinished(self) -> None:
        # A crash between the commit and Asterisk's answer: whether it was sent cannot be known.
        async with self.db.read() as tx:
            rows = await store.unfinished_messages(tx, self.engine.config.node.name)
        now = self.clock.now()
        for r in rows:
            self._in_flight[r["call_id"]] = _InFlight(r["id"], r["lead_id"], r["campaign_id"], r["number"],
                                                      r["created_at"], self.clock.monotonic())
            self._finals.append((r["call_id"], Disposition.UNKNOWN_AFTER_RESTART,
                                 "no answer from Asterisk before the restart", now))
        if rows:
            log.info("sms_settled_after_restart", count=len(rows))
            await self.flush()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.flush()
                self._expire()
                await self._dispatch()
            except sqlite3.Error as exc:
                # A locked or failing database is waited out; any other exception is a bug: it
                # ends the part, and the daemon with it (PartTasks), instead of looping on it.
                log.warning("sms_storage_error", error=str(exc))
                await asyncio.sleep(1.0)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)

    # -- sending ---------------------------------------------------------------------------------

    async def _campaigns(self) -> list[str]:
        mono = self.clock.monotonic()
        if mono - self._states_at > STATES_TTL_S:
            async with self.db.read() as tx:
                self._states = await campaign_store.campaign_states(tx)
            self._states_at = mono
        campaigns = self.engine.config.campaigns
        return sorted((n for n, s in self._states.items() if s == CampaignState.ACTIVE and n in campaigns
                       and campaigns[n].kind == "sms"), key=lambda n: -campaigns[n].priority_weight)

    async def _dispatch(self) -> None:
        engine = self.engine
        if engine.draining or self._stopping:
            return
        ami = engine.ami
        if ami is None or not ami.connected:
            return
        config = engine.config
        if self._bucket.rate_per_s != config.sms.messages_per_s:  # a reload changed the pace
            self._bucket.reconfigure(config.sms.messages_per_s, max(1, int(config.sms.messages_per_s)),
                                     self.clock.monotonic())
        now = self.clock.now()
        for name in await self._campaigns():
            if self._held.get(name, 0.0) > now:
                continue
            room = min(config.sms.max_in_flight - len(self._in_flight), self._bucket.available(self.clock.monotonic()))
            if room <= 0:
                return
            await self._send_campaign(name, config.campaigns[name], min(room, config.dialing.claim_batch))

    async def _send_campaign(self, name: str, campaign: CampaignConfig, limit: int) -> int:
        config = self.engine.config
        assert campaign.sms is not None
        gateway = config.sms.gateways[campaign.sms.gateway]
        template = parse_template(campaign.sms.template)
        policy = sms_policy(config, name)
        now = self.clock.now()
        when = to_datetime(now)
        key = await self.db.hash_key()
        node = config.node.name
        allowed: list[tuple[store.NewAttempt, str, list[tuple[str, str]]]] = []
        blocked: list[store.BlockedLead] = []
        unsendable: list[_Unsendable] = []
        held: Decision | None = None
        # durable: the attempt rows survive a power loss before the messages are sent (as for calls).
        async with self.db.write(durable=True) as tx:
            due = await store.claim_due(tx, name, now, limit)
            if not due:
                return 0
            for sync in self.engine.gate_sync:
                await sync(tx)
            numbers = [lead.number for lead in due]
            histories = await store.number_histories(tx, numbers, now, medium="sms")
            consents = await compliance_store.consents_for(tx, numbers)
            contacts = await contact_store.template_fields(tx, numbers)
            for lead in due:
                name_, attributes = contacts.get(lead.number, (None, {}))
                try:
                    body = template.render(template_values(name_, attributes, name))
                except MissingPlaceholder as exc:
                    unsendable.append(_Unsendable(lead, "sms.template", f"no value for {{{', '.join(exc.names)}}}"))
                    continue
                number = PhoneNumber(lead.number, lead.region, NumberType(lead.number_type), lead.zones)
                decision = self.engine.gate.check(GateRequest(
                    number=lead.number, default_region=campaign.default_region, policy=policy, campaign=name,
                    history=histories[lead.number], normalised=number, channel=Channel.SMS,
                    consents=consents.get(lead.number, ()), abandon_stats=AbandonStats(),
                ), when)
                if decision.campaign_wide:
                    held = decision
                    await compliance_store.record_hold(tx, name, decision.rule, decision.detail, now)
                    break
                record = store.GateRecord(lead.lead_id, name, number_hash(lead.number, key), mask(lead.number),
                                          decision.verdict.value, decision.rule, decision.detail)
                if not decision.allowed:
                    blocked.append(store.BlockedLead(record, decision.retry_at))
                    log.info("gate_blocked", campaign=name, lead=lead.lead_id, number=mask(lead.number),
                             rule=decision.rule, detail=decision.detail, medium="sms")
                    continue
                try:
                    fields = send_fields(gateway, lead.number, body)
                except (BodyError, ValueError) as exc:
                    unsendable.append(_Unsendable(lead, "sms.body", str(exc)))
                    continue
                message_id = new_message_id()
                allowed.append((store.NewAttempt(record, message_id, lead.number, node, "sms"), body, fields))
            result = await store.record_decisions(tx, [a for a, _, _ in allowed], blocked, now)
            sent = [(a, body, fields) for a, body, fields in allowed if a.call_id in result.attempt_ids]
            await tx.run(_write_outgoing, sent, unsendable, name, key, now)
            events = [self._event(a.call_id, result.attempt_ids[a.call_id], a.gate.lead_id, name, a.number,
                                  CallState.ORIGINATING, now, now) for a, _, _ in sent]
            await self._run_tx_hooks(tx, events)
        # Committed: every message below has its allow decision and its attempt row on disk.
        if held is not None:
            until = held.retry_at if held.retry_at is not None else now + policy.campaign_recheck_s
            self._held[name] = until
            self.engine.alert("campaign_held", f"campaign {name} stopped by {held.rule}: {held.detail}",
                              campaign=name, rule=held.rule, until=until)
        for item in unsendable:
            log.warning("sms_not_sendable", campaign=name, lead=item.lead.lead_id, number=mask(item.lead.number),
                        rule=item.rule, detail=item.detail)
        self.blocked += len(blocked)
        self._run_event_hooks(events)
        for attempt, _, fields in sent:
            self._send(attempt, result.attempt_ids[attempt.call_id], name, fields, now)
        self._bucket.take(len(sent), self.clock.monotonic())
        return len(sent)

    def _send(self, attempt: store.NewAttempt, attempt_id: int, campaign: str, fields: list[tuple[str, str]],
              now: float) -> None:
        message_id = attempt.call_id
        self._in_flight[message_id] = _InFlight(attempt_id, attempt.gate.lead_id, campaign, attempt.number, now,
                                                self.clock.monotonic())
        log.info("sms_sending", call_id=message_id, campaign=campaign, lead=attempt.gate.lead_id,
                 number=mask(attempt.number), action=fields[0][1])
        ami = self.engine.ami
        try:
            if ami is None:
                raise AmiDisconnected("no AMI client")
            future = ami.send_nowait(fields, message_id)
        except AmiDisconnected:
            self._answered(message_id, Disposition.FAILED, "not sent: AMI disconnected")
            return
        self.sent += 1
        future.add_done_callback(functools.partial(self._on_response, message_id))

    def _on_response(self, message_id: str, future: asyncio.Future[Message]) -> None:
        verdict = judge_future(future, send_refused)
        if verdict.answer is Answer.UNCONFIRMED:
            # Unreadable, unknown, lost with the connection, timed out: Asterisk may have sent it.
            self._answered(message_id, Disposition.UNKNOWN, f"maybe sent: {verdict.detail}")
            return
        detail = outcome_detail(future.result())
        self._answered(message_id, Disposition.ACCEPTED if verdict.answer is Answer.DONE else Disposition.FAILED,
                       detail)

    def _answered(self, message_id: str, disposition: Disposition, detail: str) -> None:
        if message_id not in self._in_flight:
            return
        self._finals.append((message_id, disposition, detail, self.clock.now()))
        self._wake.set()

    def _expire(self, *, force: bool = False) -> None:
        """Messages without an answer past the action timeout end `unknown`."""
        limit = self.engine.config.ami.action_timeout_s
        mono = self.clock.monotonic()
        waiting = {f[0] for f in self._finals}
        for message_id, item in list(self._in_flight.items()):
            if message_id not in waiting and (force or mono - item.sent_mono > limit):
                self._finals.append((message_id, Disposition.UNKNOWN,
                                     f"no answer from Asterisk within {limit:g} s", self.clock.now()))

    # -- outcomes ----------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write the answers received so far (one transaction), then tell the event hooks."""
        if not self._finals:
            return
        finals, self._finals = self._finals, []
        updates = []
        seen: set[str] = set()
        for message_id, disposition, detail, at in finals:
            item = self._in_flight.get(message_id)
            if item is None or message_id in seen:
                continue  # answered already (e.g. a late answer after the timeout)
            seen.add(message_id)
            updates.append(store.FinalUpdate(message_id, item.lead_id, disposition, None, None, at, None, None,
                                             detail, None, None))
        try:
            async with self.db.write() as tx:
                written = set(await store.apply_changes(tx, [], updates, self._decide, self.clock.now()))
                await tx.executemany("UPDATE sms_messages SET detail = ? WHERE call_id = ?",
                                     [(u.detail, u.call_id) for u in updates if u.call_id in written])
                for update in updates:
                    if update.call_id in written and update.disposition in MAYBE_SENT:
                        item = self._in_flight[update.call_id]
                        await add_entry(tx, AuditEntry(
                            update.ended_at, "sms_unconfirmed", "dialer",
                            f"{mask_text(update.detail)}; not resent (the lead is finished)", campaign=item.campaign,
                            verdict="unconfirmed", lead_id=item.lead_id, call_id=update.call_id))
                events = []
                for update in updates:
                    if update.call_id not in written:
                        continue
                    item = self._in_flight[update.call_id]
                    events.append(self._event(update.call_id, item.attempt_id, item.lead_id, item.campaign,
                                              item.number, CallState.ENDED, update.ended_at, item.created_at,
                                              update.disposition, update.detail))
                await self._run_tx_hooks(tx, events)
        except BaseException:
            self._finals[:0] = finals
            raise
        for update in updates:
            item = self._in_flight.pop(update.call_id, None)
            if item is not None and update.call_id in written:
                log.info("sms_ended", call_id=update.call_id, campaign=item.campaign, number=mask(item.number),
                         disposition=update.disposition.value, detail=update.detail)
        self._run_event_hooks(events)

    def _decide(self, campaign: str, disposition: Disposition, attempts: int) -> LeadStep:
        if disposition in MAYBE_SENT:
            # The person may have the text already: a second one is not the retry rules' call.
            return LeadStep(LeadStatus.FINISHED, self.clock.now())
        return next_step(disposition, attempts, self.engine.config.retry_for(campaign), self.clock.now())

    @staticmethod
    def _event(message_id: str, attempt_id: int, lead_id: int, campaign: str, number: str, state: CallState,
               at: float, created_at: float, disposition: Disposition | None = None, detail: str = "") -> CallEvent:
        return CallEvent(call_id=message_id, attempt_id=attempt_id, lead_id=lead_id, campaign=campaign, number=number,
                         state=state, at=at, originated_at=created_at, disposition=disposition, detail=detail,
                         medium="sms")

    async def _run_tx_hooks(self, tx: Tx, events: Sequence[CallEvent]) -> None:
        hooks = list(self.engine.tx_hooks)
        if events and hooks:
            await tx.run(_call_hooks, hooks, events)

    def _run_event_hooks(self, events: Sequence[CallEvent]) -> None:
        if not events:
            return
        for hook in self.engine.event_hooks:
            try:
                hook(events)
            except Exception:  # a failing observer must not stop sending
                log.exception("event_hook_failed", hook=getattr(hook, "__qualname__", repr(hook)))


def _write_outgoing(conn: sqlite3.Connection, sent: Sequence[tuple[store.NewAttempt, str, list[tuple[str, str]]]],
                    unsendable: Sequence[_Unsendable], campaign: str, key: bytes, now: float) -> None:
    conn.executemany(
        "INSERT INTO sms_messages (direction, call_id, campaign_id, number, body, created_at) "
        "VALUES ('out', ?, ?, ?, ?, ?)", [(a.call_id, campaign, a.number, body, now) for a, body, _ in sent])
    store.block_unsendable(conn, campaign, [
        store.UnsendableLead(item.lead.lead_id, number_hash(item.lead.number, key), mask(item.lead.number), item.rule,
                             item.detail) for item in unsendable], now)


def _call_hooks(conn: sqlite3.Connection, hooks: Sequence[TxHook], events: Sequence[CallEvent]) -> None:
    for hook in hooks:
        hook(conn, events)
