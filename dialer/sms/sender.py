"""The SMS sender: campaigns of kind `sms`, lead by lead through the same gate as calls.

Per turn and campaign, the attempt pipeline (dialer.pipeline.attempts) with the SMS medium
(dialer.sms.medium): claim due leads, sync the DNC index, let the gate judge them as channel `sms`
(consent, DNC, window, the SMS frequency caps), render each allowed lead's message from its contact,
then commit the audit rows, the attempt rows (medium `sms`, state originating) and the message rows
in one transaction, and only then send the actions. Each
answer ends its attempt: `accepted`, or `failed` with the reason Asterisk gave; the lead follows
the campaign's retry rules. The engine's tx and event hooks see every change as a CallEvent with
medium `sms`, so whatever publishes calls (the MQTT outbox) publishes messages too.

An allowed lead whose contact lacks a placeholder's value, or whose message Asterisk could not
carry, is not sent: it ends `invalid` with an audit row naming what is missing. (The gate judges
first, as `dialer check` and `dialer scrub` do: a DNC'd lead is blocked by DNC, whatever its contact.)

Only an answer Asterisk gives for a message it did not send (SEND_REFUSALS) ends `failed`, and
may be retried. Any other answer, none within the action timeout, the connection lost, or a
restart before the answer: the text may be on its way, so the attempt ends `unknown`, an
`sms_unconfirmed` audit row says so, and the lead is finished, never resent blind (issue 11).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from dialer.clock import Clock
from dialer.config.models import CampaignConfig, Config
from dialer.numbers import mask, mask_text
from dialer.outcome import Disposition
from dialer.pacer import TokenBucket
from dialer.pipeline import storage_errors
from dialer.pipeline.attempts import AttemptPipeline, run_event_hooks, run_tx_hooks
from dialer.pipeline.call_medium import OriginatePort
from dialer.retry import LeadStatus, LeadStep, next_step
from dialer.sms.medium import MessagePayload, OutgoingMessage, SmsMedium, message_event
from dialer.store import Database
from dialer.store import calls as store
from dialer.store import campaigns as campaign_store
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


@dataclass(slots=True)
class _InFlight:
    """A message sent, waiting for Asterisk's answer."""

    attempt_id: int
    lead_id: int
    campaign: str
    number: str
    created_at: float
    sent_mono: float


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
        self._attempts: AttemptPipeline[MessagePayload, OutgoingMessage] | None = None  # from start()
        self.sent = 0
        self.blocked = 0

    # -- lifetime ------------------------------------------------------------------------------

    async def start(self, parts: PartTasks) -> None:
        """Settle messages left unanswered by a previous run, then start the loop."""
        await self._settle_unfinished()
        self._attempts = AttemptPipeline(self.engine, SmsMedium(self), await self.db.hash_key())
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
        failures = 0
        while not self._stopping:
            try:
                await self.flush()
                self._expire()
                await self._dispatch()
                failures = 0
            except sqlite3.Error as exc:
                # The engine's policy (dialer.pipeline.storage_errors): waited out with its backoff;
                # the engine's loop, on the same database, raises the storage_error alert.
                failures += 1
                if storage_errors.worth_reporting(failures):
                    log.warning("sms_storage_error", error=str(exc), failures=failures)
                await asyncio.sleep(storage_errors.backoff_s(failures))
                continue
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
            if self.engine.holds.active(name, now) is not None:
                continue
            room = min(config.sms.max_in_flight - len(self._in_flight), self._bucket.available(self.clock.monotonic()))
            if room <= 0:
                return
            await self._send_campaign(name, config.campaigns[name], min(room, config.dialing.claim_batch))

    async def _send_campaign(self, name: str, campaign: CampaignConfig, limit: int) -> int:
        """One turn of the attempt pipeline for an SMS campaign."""
        assert self._attempts is not None
        result = await self._attempts.turn(name, campaign, limit)
        self.blocked += result.blocked
        self._bucket.take(result.sent, self.clock.monotonic())
        return result.sent

    # -- what the SMS medium needs (dialer.sms.medium.SmsHost) ------------------------------------

    @property
    def config(self) -> Config:
        """The config in force (the engine's: reload replaces it)."""
        return self.engine.config

    @property
    def port(self) -> OriginatePort | None:
        """The AMI client, when there is one."""
        return self.engine.ami

    def in_flight(self, message: OutgoingMessage) -> None:
        """A message about to be sent: wait for its answer."""
        a = message.attempt
        self._in_flight[message.message_id] = _InFlight(message.attempt_id, a.gate.lead_id, message.campaign,
                                                        a.number, message.created_at, self.clock.monotonic())
        self.sent += 1

    def answered(self, message_id: str, disposition: Disposition, detail: str) -> None:
        """A message's outcome (recorded with the next flush)."""
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
                    events.append(message_event(update.call_id, item.attempt_id, item.lead_id, item.campaign,
                                              item.number, CallState.ENDED, update.ended_at, item.created_at,
                                              update.disposition, update.detail))
                await run_tx_hooks(tx, self.engine.tx_hooks, events)
        except BaseException:
            self._finals[:0] = finals
            raise
        for update in updates:
            item = self._in_flight.pop(update.call_id, None)
            if item is not None and update.call_id in written:
                log.info("sms_ended", call_id=update.call_id, campaign=item.campaign, number=mask(item.number),
                         disposition=update.disposition.value, detail=update.detail)
        run_event_hooks(self.engine.event_hooks, events)

    def _decide(self, campaign: str, disposition: Disposition, attempts: int) -> LeadStep:
        if disposition in MAYBE_SENT:
            # The person may have the text already: a second one is not the retry rules' call.
            return LeadStep(LeadStatus.FINISHED, self.clock.now())
        return next_step(disposition, attempts, self.engine.config.retry_for(campaign), self.clock.now())
