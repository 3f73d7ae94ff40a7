"""The dialing engine: scheduler -> gate -> pacer -> originator, and tracker changes -> outcomes.

One loop: flush call changes to the store, settle overdue calls, then for each active campaign
one turn of the attempt pipeline (dialer.pipeline.attempts, with the call medium): claim due leads,
run each through the gate, commit the audit rows and attempt rows (state originating) in one
transaction, and only then send the Originates. Final outcomes go through the
retry policy to the lead, in the same transaction as the attempt's final row.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from dialer.alerts import Alert, AlertHook
from dialer.ami.errors import AmiError
from dialer.ami.frames import Message
from dialer.clock import Clock
from dialer.compliance import AbandonStats, Gate, abandon_headroom
from dialer.compliance.holds import CampaignHolds
from dialer.config.models import CampaignConfig, Config, PacingConfig
from dialer.events import CallEvent, EventHook, TxHook
from dialer.numbers import mask
from dialer.outcome import Disposition
from dialer.pacer import Pacer, abandon_slowdown
from dialer.pbxrecord import PbxRecord, RecordedCall, recorded_call
from dialer.pipeline import storage_errors
from dialer.pipeline.attempts import AttemptPipeline, call_tx_hooks_in, run_event_hooks, run_tx_hooks
from dialer.pipeline.call_medium import CallMedium
from dialer.retry import LeadStep, next_step
from dialer.store import Database, Tx
from dialer.store import calls as store
from dialer.store import campaigns as campaign_store
from dialer.store import compliance as compliance_store
from dialer.store import pbx_record as record_store
from dialer.store.audit import AuditEntry, add_entry_row
from dialer.store.journal import HeldChange, HeldOptout, HeldOutcomes
from dialer.store.states import CampaignState
from dialer.tracker import CallChange, CallState, CallTracker, TrackedCall, channels_from_list, restored_call

log = structlog.get_logger("dialer.engine")

# A restored attempt that the snapshot after a restart does not show, and that is younger than
# this, may be an Originate the killed process sent a moment before it died whose channel Asterisk
# has not created yet: it is looked for again once this has passed, then ended.
RESTORED_SETUP_GRACE_S = 5.0
# After a (re)login, dial once Asterisk says FullyBooted; a manager user whose events exclude
# `system` never gets it, so dial anyway after this long.
FULLY_BOOTED_WAIT_S = 5.0

# Asterisk's record is read for calls that started up to this long before the oldest one looked for
# (its times are the PBX's wall clock, on the same host).
RECORD_SINCE_MARGIN_S = 60.0

ABANDON_STATS_TTL_S = 5.0  # a campaign's abandon counts are re-read from the attempts table this often



class AmiPort(Protocol):
    """What the engine needs of the AMI client."""

    @property
    def connected(self) -> bool:
        """True while logged in."""
        ...

    def send_nowait(self, fields: Sequence[tuple[str, str]], action_id: str) -> asyncio.Future[Message]:
        """Write an action once; the future resolves with its response."""
        ...

    async def list_action(
        self, fields: Sequence[tuple[str, str]], *, timeout: float | None = None
    ) -> tuple[Message, list[Message]]:
        """Send a list action and collect its events."""
        ...


@dataclass(slots=True)
class EngineStats:
    """Counters since start (for status and tests)."""

    originated: int = 0
    ended: int = 0
    blocked: int = 0
    refused_live: int = 0
    by_disposition: Counter[str] = field(default_factory=Counter)


class Engine:
    """Runs campaigns until asked to drain; see the module docstring for the order of things."""

    def __init__(self, config: Config, db: Database, gate: Gate, clock: Clock, hash_key: bytes) -> None:
        self.config = config
        self.db = db
        self.gate = gate
        self.clock = clock
        self._hash_key = hash_key
        self.tracker = CallTracker(clock, self._on_change)
        self.tracker.on_optout = self._on_optout
        self.pbx_record = self._pbx_record(config)
        self._record_wait: dict[str, float] = {}  # call id -> when it was first found with no channel
        self._record_failing = False
        self.pacer = Pacer(config.dialing.pacing, self._campaign_pacing(config), clock.monotonic())
        self.ami: AmiPort | None = None
        self.stats = EngineStats()
        self.optout_hooks: list[Callable[[TrackedCall], None]] = []
        self.alert_hooks: list[AlertHook] = []
        self.tx_hooks: list[TxHook] = []  # run inside the transaction that records the events
        self.event_hooks: list[EventHook] = []  # run after that transaction committed
        # Called when a turn fails on the database, and when one works again after that: the daemon
        # keeps the outcome journal current meanwhile, so a SIGKILL during the outage loses nothing.
        self.storage_failure_hooks: list[Callable[[sqlite3.Error], None]] = []
        self.storage_recovery_hooks: list[Callable[[], None]] = []
        # Extra Originate channel variables per call (e.g. DIALER_REC_FILE from the recordings module).
        self.variable_providers: list[Callable[[TrackedCall, CampaignConfig], Mapping[str, str]]] = []
        # While any hold is set no new call is originated (e.g. recordings storage failing with
        # on_storage_error = pause); live calls go on.
        self.dispatch_holds: dict[str, str] = {}
        # Run inside the claim transaction before the gate (the DNC index catches up with the store).
        self.gate_sync: list[Callable[[Tx], Awaitable[None]]] = []
        self.holds = CampaignHolds()
        self._attempts = AttemptPipeline(self, CallMedium(self), hash_key)
        self._abandon: dict[str, tuple[float, AbandonStats]] = {}
        self._pending_changes: list[CallChange] = []
        self._pending_audit: list[AuditEntry] = []  # written with the next flush
        self._wake = asyncio.Event()
        self._draining = False
        self._campaign_states: dict[str, CampaignState] = {}
        self._campaign_states_at = -1.0
        self._idle_campaigns: set[str] = set()
        self._rotation = 0
        # Asterisk's state as its events tell it: False from Shutdown (or a lost session) until
        # FullyBooted, so no Originate is sent to a PBX that is stopping or still booting.
        self._pbx_booted = False
        self._session_at: float | None = None
        # Seconds from the event that ended a call to the commit of its outcome (most recent calls).
        self.commit_latencies: deque[float] = deque(maxlen=100_000)

    @staticmethod
    def _pbx_record(config: Config) -> PbxRecord | None:
        settings = config.pbx_record
        if not settings.enabled:
            return None
        return PbxRecord(settings.path, settings.grace_s, settings.max_read_bytes)

    @staticmethod
    def _campaign_pacing(config: Config) -> dict[str, PacingConfig]:
        return {name: c.pacing for name, c in config.campaigns.items()}

    @staticmethod
    def wanted_events() -> frozenset[str]:
        """AMI events worth decoding."""
        return CallTracker.wanted_events() | {"Shutdown", "FullyBooted", "CoreShowChannel",
                                              "CoreShowChannelsComplete"}

    def alert(self, kind: str, message: str, **data: Any) -> Alert:
        """Raise an alert: logged now, and handed to every alert hook (MQTT publishes it)."""
        alert = Alert(kind, message, self.clock.now(), data)
        log.warning("alert", kind=kind, message=message, **data)
        for hook in self.alert_hooks:
            try:
                hook(alert)
            except Exception:
                log.exception("alert_hook_failed")
        return alert

    # -- lifecycle -------------------------------------------------------------------------------

    async def restore(self) -> int:
        """Load this node's unfinished attempts (after a crash or restart) for reconciliation."""
        async with self.db.write() as tx:
            await campaign_store.ensure_campaigns(tx, self.config.campaigns, self.clock.now())
            rows = await store.live_attempts(tx, self.config.node.name)
        for row in rows:
            campaign = self.config.campaigns.get(row["campaign_id"])
            ring = campaign.ring_timeout_s if campaign else 60.0
            created = float(row["created_at"])
            deadline = created + ring + self.config.dialing.event_timeout_s
            if row["state"] == CallState.ORIGINATING:
                deadline = min(deadline, created + RESTORED_SETUP_GRACE_S)
            self.tracker.track(restored_call(row, deadline))
        if rows:
            log.info("restored_live_attempts", count=len(rows))
        return len(rows)

    def reload(self, config: Config) -> None:
        """Apply a reloaded config: pacing, campaigns, retry rules; live calls are untouched."""
        self.config = config
        self.pbx_record = self._pbx_record(config)
        self.pacer.reconfigure(config.dialing.pacing, self._campaign_pacing(config), self.clock.monotonic())
        self.holds.clear()  # a fixed caller ID or a new limit deserves a fresh look
        self._campaign_states_at = -1.0
        self._wake.set()

    def campaigns_changed(self) -> None:
        """Campaign states or leads changed outside the loop (CLI, MQTT command): look again now."""
        self._campaign_states_at = -1.0
        self._wake.set()

    def active_campaigns(self) -> list[str]:
        """Configured campaigns whose state is active (as last read from the database)."""
        return sorted(n for n, s in self._campaign_states.items()
                      if s == CampaignState.ACTIVE and n in self.config.campaigns)

    def drain(self) -> None:
        """Stop originating; `run` returns once live calls end or the drain timeout passes."""
        if not self._draining:
            self._draining = True
            log.info("draining", live_calls=len(self.tracker), timeout_s=self.config.dialing.drain_timeout_s)
        self._wake.set()

    def hold_dispatch(self, key: str, why: str) -> None:
        """Originate no new calls until `release_dispatch(key)`; live calls go on."""
        if key not in self.dispatch_holds:
            self.dispatch_holds[key] = why
            log.warning("dispatch_held", key=key, why=why)

    def release_dispatch(self, key: str) -> None:
        """Lift the hold set under `key`."""
        if self.dispatch_holds.pop(key, None) is not None:
            log.info("dispatch_released", key=key, still_held=sorted(self.dispatch_holds))
            self._wake.set()

    @property
    def draining(self) -> bool:
        """True once drain() was called."""
        return self._draining

    async def on_ami_connected(self) -> None:
        """After every (re)login: compare our live calls with Asterisk's channels."""
        self._session_at = self.clock.monotonic()
        await self.reconcile(reason="resync after AMI (re)connect")

    def on_ami_disconnected(self, reason: str) -> None:
        """The AMI session is gone: no dialing until the next one says Asterisk is up."""
        self._pbx_booted = False
        self._session_at = None

    def on_ami_event(self, message: Message) -> None:
        """Every AMI event: Asterisk's own state (Shutdown, FullyBooted), then the call tracker."""
        name = message.get("Event")
        if name == "Shutdown":
            if self._pbx_booted:
                log.warning("pbx_shutdown", note="no new calls until Asterisk is back")
            self._pbx_booted = False
        elif name == "FullyBooted":
            self._pbx_booted = True
            self._wake.set()
        self.tracker.on_event(message)

    def _pbx_accepting(self) -> bool:
        if self.ami is None or not self.ami.connected:
            return False
        if self._pbx_booted:
            return True
        if self._session_at is not None and self.clock.monotonic() - self._session_at >= FULLY_BOOTED_WAIT_S:
            log.warning("no_fully_booted", waited_s=FULLY_BOOTED_WAIT_S,
                        note="dialing anyway; add 'system' to ami.events so the dialer can tell when Asterisk is up")
            self._pbx_booted = True
            return True
        return False

    async def reconcile(self, calls: Sequence[TrackedCall] | None = None, *, reason: str) -> None:
        """Ask CoreShowChannels; calls with no channel left get a final outcome."""
        if self.ami is None or not self.ami.connected or (calls is not None and not calls):
            return
        if not len(self.tracker):
            return
        mark = self.tracker.mark()
        response, events = await self.ami.list_action([("Action", "CoreShowChannels")])
        if response.get("Response") != "Success":
            log.warning("reconcile_failed", message=response.get("Message"))
            return
        channels = channels_from_list(events)
        waiting = await self._settle_from_record(self.tracker.missing(channels, since=mark), reason)
        ended = self.tracker.reconcile(
            channels,
            vanished=Disposition.UNKNOWN,
            vanished_detail=f"no channel left at {reason}",
            since=mark,
            keep=waiting,
        )
        for call in ended:
            self._record_wait.pop(call.call_id, None)
        if ended:
            log.info("reconciled", ended=len(ended), reason=reason)
        await self.flush()

    async def _settle_from_record(self, missing: Sequence[TrackedCall], reason: str) -> frozenset[str]:
        """Settle calls with no channel left from Asterisk's own record; returns the ids of those that
        wait for theirs (younger than grace_s). The rest, with no record, end unknown in `reconcile`."""
        record = self.pbx_record
        now = self.clock.now()
        for call_id in [c for c in self._record_wait if c not in self.tracker]:
            del self._record_wait[call_id]  # ended some other way meanwhile
        if not missing:
            return frozenset()
        found: dict[str, RecordedCall] = {}
        readable = False
        if record is not None:
            since = min(call.originated_at for call in missing) - RECORD_SINCE_MARGIN_S
            try:
                scanned = await asyncio.to_thread(record.scan, since)
            except OSError as exc:
                if not self._record_failing:
                    self._record_failing = True
                    self.alert("pbx_record_unreadable", f"Asterisk's call record {record.path}: {exc.strerror or exc}; "
                               "calls missed while the dialer was down cannot be settled from it "
                               "(dialer pbx-record check)", path=str(record.path))
            else:
                readable = True
                if self._record_failing:
                    self._record_failing = False
                    log.info("pbx_record_readable", path=str(record.path))
                if scanned.error_count:
                    log.warning("pbx_record_damaged_lines", path=str(record.path), count=scanned.error_count,
                                first=scanned.errors[0])
                for call in missing:
                    outcome = recorded_call(call.call_id, scanned.by_call.get(call.call_id, ()))
                    if outcome is not None:
                        found[call.call_id] = outcome
        waiting = set()
        settled = 0
        for call in missing:
            outcome = found.get(call.call_id)
            if outcome is not None:
                self._record_wait.pop(call.call_id, None)
                if self.tracker.settle_from_record(call.call_id, outcome, f"settled from Asterisk's record after "
                                                   f"{reason} ({outcome.cdr_disposition})") is not None:
                    settled += 1
                continue
            never_seen = not call.legs and call.response is None and call.state is CallState.ORIGINATING
            if never_seen and now < call.deadline:
                continue  # its Originate may still be queued in Asterisk: the tracker keeps it till its deadline
            first = self._record_wait.setdefault(call.call_id, now)
            if record is not None and now - first < record.grace_s:
                waiting.add(call.call_id)
                call.deadline = min(call.deadline, first + record.grace_s)
                continue
            self._mark_unknown(call, record, readable)
        if settled:
            log.info("settled_from_pbx_record", settled=settled, waiting=len(waiting), reason=reason)
        return frozenset(waiting)

    def _mark_unknown(self, call: TrackedCall, record: PbxRecord | None, readable: bool) -> None:
        """A call with no channel and no record: how its lead is retried, and the audit note. It is
        retried as unknown only when Asterisk's readable record proves the Originate never reached it
        (no record of a call nobody saw); anything else may have been answered (or opted out)."""
        seen = bool(call.legs) or call.response is not None or call.state is not CallState.ORIGINATING
        if seen:
            sent, why = "yes", f"Asterisk showed the call ({call.state.value}) but has no record of how it ended"
        elif record is None:
            sent, why = "unknown", "no Asterisk record to ask ([pbx_record] enabled = false)"
        elif not readable:
            sent, why = "unknown", f"Asterisk's record {record.path} could not be read"
        else:
            sent, why = "no", f"Asterisk has no record of it after {record.grace_s:g} s: the Originate never reached it"
        never_placed = sent == "no"
        call.retry_as = Disposition.UNKNOWN if never_placed else Disposition.ANSWERED
        call.unknown_sent = sent
        call.unknown_note = why + ("; retried as unknown" if never_placed else
                                   "; not retried before an answered call would be")

    async def run(self) -> None:
        """The engine loop; returns after drain() once calls have ended (or the drain timeout)."""
        drain_deadline: float | None = None
        failures = 0
        while True:
            if self._draining and drain_deadline is None:
                drain_deadline = self.clock.monotonic() + self.config.dialing.drain_timeout_s
            try:
                if await self._turn(drain_deadline):
                    return
                if failures:
                    for recovered in self.storage_recovery_hooks:
                        recovered()
                failures = 0
            except sqlite3.Error as exc:
                # Locked by a long import, disk full, I/O error: nothing is lost (pending changes stay
                # queued, claimed leads were rolled back), dialing pauses until the store works again.
                failures += 1
                for failed in self.storage_failure_hooks:
                    failed(exc)
                if storage_errors.worth_reporting(failures):
                    self.alert("storage_error", f"database {self.db.path}: {exc}", failures=failures)
                if drain_deadline is not None and self.clock.monotonic() >= drain_deadline:
                    log.error("drain_timeout_with_storage_error", pending=len(self._pending_changes))
                    return
                await asyncio.sleep(storage_errors.backoff_s(failures))
                continue
            await self._sleep()

    async def _turn(self, drain_deadline: float | None) -> bool:
        """One pass of the loop; True when a drain is complete."""
        await self.flush()
        overdue = self.tracker.tick()
        if overdue:
            # Reconcile first, with the deadlines passed: a call Asterisk never showed ends now.
            with contextlib.suppress(AmiError):
                await self.reconcile(overdue, reason="missing events")
            later = self.clock.now() + self.config.dialing.event_timeout_s
            for call in overdue:
                if call.call_id in self.tracker:  # still up (or not checkable now): look again later
                    call.deadline = max(call.deadline, later)
        if drain_deadline is not None:
            if not len(self.tracker) or self.clock.monotonic() >= drain_deadline:
                await self.flush()
                if len(self.tracker):
                    log.warning("drain_timeout", live_calls=len(self.tracker),
                                note="they are reconciled at the next start")
                return True
        elif self._pbx_accepting():
            await self.dispatch()
        await self.flush()
        return False

    async def _sleep(self) -> None:
        if self._pending_changes:
            return
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.config.dialing.poll_interval_s)

    # -- dispatch ---------------------------------------------------------------------------------

    async def _active_campaigns(self) -> list[str]:
        mono = self.clock.monotonic()
        if mono - self._campaign_states_at > 1.0:
            async with self.db.read() as tx:
                self._campaign_states = await campaign_store.campaign_states(tx)
            self._campaign_states_at = mono
            self._idle_campaigns.clear()
        campaigns = self.config.campaigns
        # SMS campaigns are sent by dialer.sms, not dialled.
        names = sorted(n for n, s in self._campaign_states.items()
                       if s == CampaignState.ACTIVE and n in campaigns and campaigns[n].kind == "call")
        # Equal weights take turns at going first, so one campaign cannot take every free slot.
        self._rotation = (self._rotation + 1) % max(1, len(names))
        names = names[self._rotation:] + names[:self._rotation]
        return sorted(names, key=lambda n: -self.config.campaigns[n].priority_weight)

    async def dispatch(self) -> int:
        """Originate as many due calls as the pacer allows; returns how many were sent."""
        if self.dispatch_holds:
            return 0
        sent = 0
        live = self.tracker.live_by_campaign()
        live_total = len(self.tracker)
        now = self.clock.now()
        eligible = [name for name in await self._active_campaigns()
                    if name not in self._idle_campaigns and not self.holds.active(name, now)]
        for position, name in enumerate(eligible):
            stats = await self._abandon_stats(name)
            self.pacer.slow_down(name, abandon_slowdown(abandon_headroom(stats, self.config.compliance_for(name))))
            slots = self.pacer.slots(name, live_total, live.get(name, 0), self.clock.monotonic())
            weight = self.config.campaigns[name].priority_weight
            peers = sum(1 for other in eligible[position:] if self.config.campaigns[other].priority_weight == weight)
            if peers > 1:  # share what the global limit leaves among campaigns of the same weight
                free = self.config.dialing.pacing.max_concurrent_calls - live_total
                slots = min(slots, -(-free // peers))
            if slots <= 0:
                continue
            count = await self._dispatch_campaign(name, self.config.campaigns[name],
                                                  min(slots, self.config.dialing.claim_batch))
            sent += count
            live_total += count
        return sent

    async def _abandon_stats(self, name: str) -> AbandonStats:
        """The campaign's abandon counts, re-read at most every ABANDON_STATS_TTL_S."""
        cached = self._abandon.get(name)
        mono = self.clock.monotonic()
        if cached is not None and mono - cached[0] < ABANDON_STATS_TTL_S:
            return cached[1]
        async with self.db.read() as tx:
            stats = await compliance_store.abandon_stats(tx, name, self.clock.now())
        self._abandon[name] = (mono, stats)
        return stats

    async def _dispatch_campaign(self, name: str, campaign: CampaignConfig, limit: int) -> int:
        """One turn of the attempt pipeline for a call campaign (dialer.pipeline.attempts)."""
        result = await self._attempts.turn(name, campaign, limit, abandon=await self._abandon_stats(name))
        if not result.claimed:
            self._idle_campaigns.add(name)
            return 0
        self.stats.blocked += result.blocked
        self.stats.refused_live += result.refused_live
        self.pacer.consume(name, result.sent, self.clock.monotonic())
        self.stats.originated += result.sent
        return result.sent

    # -- what the call medium needs (dialer.pipeline.call_medium) ---------------------------------

    @property
    def originate_port(self) -> AmiPort | None:
        """The AMI client Originates are sent on, when there is one."""
        return self.ami

    def call_event(self, call: TrackedCall, state: CallState, at: float) -> CallEvent:
        """The event of `call` in `state` (not a final one)."""
        return self._event(call, state, at)

    def originate_unconfirmed(self, call: TrackedCall, detail: str) -> None:
        """An Originate whose answer could not be read (`detail` masked): the call may be placed, so it
        stays live; the audit row is written with the next flush."""
        log.warning("originate_unconfirmed", call_id=call.call_id, campaign=call.campaign_id, lead=call.lead_id,
                    detail=detail, still_live=call.call_id in self.tracker)
        self._pending_audit.append(AuditEntry(
            self.clock.now(), "originate_unconfirmed", "dialer",
            f"{detail}; the call may be placed: kept live until its events or reconciliation settle it",
            campaign=call.campaign_id, verdict="unconfirmed", lead_id=call.lead_id, call_id=call.call_id))
        self._wake.set()

    # -- changes -> store -------------------------------------------------------------------------

    def _on_change(self, change: CallChange) -> None:
        self._pending_changes.append(change)
        self._wake.set()

    def _on_optout(self, call: TrackedCall) -> None:
        log.info("opt_out", call_id=call.call_id, campaign=call.campaign_id, number=mask(call.number))
        for hook in self.optout_hooks:
            hook(call)

    async def flush(self) -> None:
        """Write pending call changes (one transaction), then log them."""
        if not self._pending_changes and not self._pending_audit:
            return
        changes, self._pending_changes = self._pending_changes, []
        audits, self._pending_audit = self._pending_audit, []
        states: list[store.StateUpdate] = []
        finals: list[store.FinalUpdate] = []
        for change in changes:
            state, final = self._update(change)
            if final is not None:
                finals.append(final)
            elif state is not None:
                states.append(state)
        now = self.clock.now()
        # Every event built here, in the loop's thread: the transaction below runs whole on the
        # database thread (one hop) and must not read the live call objects.
        candidates = [(self._event(change.call, change.state, change.at, change),
                       None if not change.final else change.call.call_id) for change in changes]
        try:
            unknowns = [record_store.UnknownOutcome(c.call.call_id, c.call.lead_id, c.call.campaign_id,
                                                    c.call.unknown_sent, note)
                        for c in changes if c.final and (note := _unknown_note(c))]
            written_ids, events = await self.db.write_in_thread(
                _flush_in, states, finals, self._decide, now, candidates, list(self.tx_hooks), audits, unknowns)
            written = set(written_ids)
        except BaseException:
            self._pending_changes[:0] = changes  # keep them for the next flush
            self._pending_audit[:0] = audits
            raise
        committed = self.clock.monotonic()
        for change in changes:
            if change.final and change.call.call_id in written:
                self.commit_latencies.append(committed - change.mono)
            self._log_change(change, written)
        self._run_event_hooks(events)

    def _update(self, change: CallChange) -> tuple[store.StateUpdate | None, store.FinalUpdate | None]:
        """The store update of one change: a final outcome, or a state update."""
        call = change.call
        if not change.final:
            return store.StateUpdate(call.call_id, change.state.value, call.answered_at), None
        assert change.disposition is not None
        primary = call.legs.get(call.call_id)
        unknown = _unknown_note(change)
        return None, store.FinalUpdate(
            call_id=call.call_id, lead_id=call.lead_id, disposition=self._final_disposition(change),
            reason=call.reason, cause=change.cause, ended_at=change.at, answered_at=call.answered_at,
            talk_s=change.talk_s, detail=f"{call.detail}; {unknown}" if unknown else call.detail,
            channel=primary.name if primary else None, uniqueid=primary.uniqueid if primary else None,
            retry_as=call.retry_as if unknown else None,
        )

    # -- what the database does not have (dialer.store.journal) ------------------------------------

    def held_outcomes(self) -> HeldOutcomes:
        """What this engine holds that the database may not: call changes not yet flushed, and the
        opt-outs of those calls and of calls still live (their DNC entry may have failed to store too)."""
        changes = []
        optouts: dict[str, HeldOptout] = {}
        for change in self._pending_changes:
            state, final = self._update(change)
            changes.append(HeldChange(self._event(change.call, change.state, change.at, change), state, final))
        for call in [*(c.call for c in self._pending_changes), *self.tracker.calls()]:
            if call.opted_out:
                optouts[call.call_id] = HeldOptout(call.number, call.campaign_id, call.call_id)
        return HeldOutcomes(tuple(changes), tuple(optouts.values()))

    async def record_held(self, tx: Tx, changes: Sequence[HeldChange]) -> tuple[list[str], list[CallEvent]]:
        """Record changes an earlier run held (the outcome journal) inside `tx`, as `flush` would have:
        the updates, the leads' retry steps, the tx hooks. Returns (call ids whose final outcome was
        written now, the events to hand to `notify` after the commit)."""
        states = [c.state for c in changes if c.state is not None]
        finals = [c.final for c in changes if c.final is not None]
        written = await store.apply_changes(tx, states, finals, self._decide, self.clock.now())
        recorded = set(written)
        events = [c.event for c in changes if c.final is None or c.final.call_id in recorded]
        await self._run_tx_hooks(tx, events)
        return written, events

    def notify(self, events: Sequence[CallEvent]) -> None:
        """Hand committed events (recorded by `record_held`) to the event hooks."""
        self._run_event_hooks(events)

    def _event(self, call: TrackedCall, state: CallState, at: float, change: CallChange | None = None) -> CallEvent:
        final = change is not None and change.final
        return CallEvent(
            call_id=call.call_id, attempt_id=call.attempt_id, lead_id=call.lead_id, campaign=call.campaign_id,
            number=call.number, state=state, at=at, originated_at=call.originated_at, answered_at=call.answered_at,
            disposition=self._final_disposition(change) if final and change is not None else None,
            reason=call.reason if final else None, cause=change.cause if final and change is not None else None,
            talk_s=change.talk_s if final and change is not None else None, detail=call.detail if final else "",
            recording=call.recording, amd_status=call.amd_status, opted_out=call.opted_out,
            callback_requested=call.callback_requested,
            recording_closed=call.recording_closed,
        )

    async def _run_tx_hooks(self, tx: Tx, events: Sequence[CallEvent]) -> None:
        await run_tx_hooks(tx, self.tx_hooks, events)

    def _run_event_hooks(self, events: Sequence[CallEvent]) -> None:
        run_event_hooks(self.event_hooks, events)

    def _final_disposition(self, change: CallChange) -> Disposition:
        assert change.disposition is not None
        if change.call.restored and change.disposition is Disposition.UNKNOWN:
            return Disposition.UNKNOWN_AFTER_RESTART
        return change.disposition

    def _decide(self, campaign: str, disposition: Disposition, attempts: int) -> LeadStep:
        return next_step(disposition, attempts, self.config.retry_for(campaign), self.clock.now())

    def _log_change(self, change: CallChange, written: set[str]) -> None:
        call = change.call
        if change.final:
            if call.call_id not in written:
                return
            disposition = self._final_disposition(change)
            self.stats.ended += 1
            self.stats.by_disposition[disposition.value] += 1
            ring_s = None
            if call.answered_at is not None:
                ring_s = round(call.answered_at - call.originated_at, 3)
            log.info("call_ended", call_id=call.call_id, campaign=call.campaign_id, number=mask(call.number),
                     disposition=disposition.value, reason=call.reason, cause=change.cause, ring_s=ring_s,
                     talk_s=change.talk_s, duration_s=round(change.at - call.originated_at, 3),
                     detail=call.detail or None)
            self._wake.set()
        else:
            log.info(f"call_{change.state.value}", call_id=call.call_id, campaign=call.campaign_id,
                     number=mask(call.number), after_s=round(change.at - call.originated_at, 3))


def _unknown_note(change: CallChange) -> str:
    """The note on an unknown outcome (whether its Originate reached Asterisk); empty for a known one."""
    if change.disposition is not Disposition.UNKNOWN:
        return ""
    return change.call.unknown_note


def _flush_in(conn: sqlite3.Connection, states: Sequence[store.StateUpdate], finals: Sequence[store.FinalUpdate],
              decide: Callable[[str, Disposition, int], LeadStep], now: float,
              candidates: Sequence[tuple[CallEvent, str | None]], hooks: Sequence[TxHook],
              audits: Sequence[AuditEntry], unknowns: Sequence[record_store.UnknownOutcome],
              ) -> tuple[list[str], list[CallEvent]]:
    """The body of a flush, on the database thread inside its transaction: the audit rows held for
    it, the updates, the audit row of each unknown outcome written, then the tx hooks with the events
    of what was written (a final outcome written earlier is not announced twice)."""
    for entry in audits:
        add_entry_row(conn, entry)
    written = store.apply_changes_in(conn, states, finals, decide, now)
    done = set(written)
    record_store.record_unknown_outcomes_in(conn, [u for u in unknowns if u.call_id in done], now)
    events = [event for event, final_id in candidates if final_id is None or final_id in done]
    if events and hooks:
        call_tx_hooks_in(conn, hooks, events)
    return written, events
