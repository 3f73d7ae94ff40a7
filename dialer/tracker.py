"""The call tracker: one state machine per attempt, fed by AMI events in any order across channels.

originating -> ringing -> answered -> ended, or originating -> ended. A call ends exactly once,
when Asterisk has said how the dial went (OriginateResponse) and every channel of the call has
hung up; or, if events went missing, when reconciliation against CoreShowChannels finds nothing
left. Correlation, most reliable first: the Uniqueid we chose with ChannelId (`<call_id>` and
`<call_id>-2`), the `ChanVariable: DIALER_CALL_ID=` header (manager.conf `channelvars`), the
Linkedid of a channel the call created, and the ActionID of OriginateResponse (= call id).

Pure code: no I/O; time comes from the injected clock; results go to `on_change`.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import structlog

from dialer.ami.frames import Message
from dialer.clock import Clock
from dialer.outcome import CallFacts, Disposition, classify
from dialer.pbxrecord.outcome import RecordedAnswer, RecordedCall

log = structlog.get_logger("dialer.tracker")

CALL_ID_VAR = "DIALER_CALL_ID"
_UP = "6"
_RINGING = "5"


class CallState(StrEnum):
    """Where a call is."""

    ORIGINATING = "originating"
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


@dataclass(slots=True)
class Leg:
    """One channel of a call."""

    uniqueid: str
    name: str = ""
    cause: int | None = None
    hung_up: bool = False

    @property
    def callee_side(self) -> bool:
        """The `;2` half of a Local pair carries the callee's real cause (`;1` shows 0 for busy)."""
        return self.name.endswith(";2")


@dataclass(slots=True)
class TrackedCall:
    """Everything the tracker knows about one attempt while it is live."""

    call_id: str
    attempt_id: int
    lead_id: int
    campaign_id: str
    number: str
    originated_at: float
    deadline: float
    state: CallState = CallState.ORIGINATING
    reason: int | None = None
    response: str | None = None  # Success / Failure from OriginateResponse
    legs: dict[str, Leg] = field(default_factory=dict)
    ringing_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    amd_status: str | None = None
    opted_out: bool = False
    callback_requested: bool = False  # the callee pressed the callback key (UserEvent DialerCallback)
    abandoned: bool = False
    recording: str | None = None
    recording_closed: bool = False  # MixMonitorStop seen (only after StopMixMonitor, never at hangup)
    detail: str = ""
    restored: bool = False  # loaded from the database after a restart, not originated by this process
    hangups_done_at: float | None = None
    talk_unknown: bool = False  # the hangup was not observed (AMI down, restart): no talk time
    uids: set[str] = field(default_factory=set)
    # An outcome nobody knows (no channel, no record): what the lead's retry is decided as, and the
    # audit note on whether the Originate ever reached Asterisk.
    retry_as: Disposition | None = None
    unknown_sent: str = ""  # "no", "yes" or "unknown"
    unknown_note: str = ""
    seen_seq: int = 0  # the tracker's event count when an event last concerned this call


@dataclass(frozen=True, slots=True)
class CallChange:
    """A state change of one call; `final` is set exactly once per call, on its last change."""

    call: TrackedCall
    state: CallState
    at: float
    disposition: Disposition | None = None
    talk_s: float | None = None
    cause: int | None = None
    mono: float = 0.0  # monotonic time the change was seen (for event-to-commit latency)

    @property
    def final(self) -> bool:
        """True on the change that ends the call."""
        return self.state is CallState.ENDED


@dataclass(frozen=True, slots=True)
class LiveChannel:
    """A channel CoreShowChannels reported (used to reconcile after a reconnect or restart)."""

    uniqueid: str
    name: str
    call_id: str | None
    state: str


class CallTracker:
    """Tracks live calls; `on_event` takes AMI events, `on_change` receives every state change."""

    # After every leg has hung up, how long to wait for a late OriginateResponse (or, after a failed
    # OriginateResponse, for channel events) before deciding.
    RESPONSE_GRACE_S = 2.0

    def __init__(self, clock: Clock, on_change: Callable[[CallChange], None]) -> None:
        self._clock = clock
        self._on_change = on_change
        self._calls: dict[str, TrackedCall] = {}
        self._by_uid: dict[str, TrackedCall] = {}
        # Kept as calls come and go, so that no loop turn walks every live call (at 5,000 live that
        # walk was 7-9% of a core): live calls per campaign; calls whose legs have all hung up,
        # waiting out RESPONSE_GRACE_S; and a heap of (deadline, n, call) that tick() pops from.
        # Deadlines only move later; a popped entry whose call's deadline moved is pushed again.
        self._per_campaign: dict[str, int] = {}
        self._settling: dict[str, TrackedCall] = {}
        self._deadlines: list[tuple[float, int, TrackedCall]] = []
        self._pushes = itertools.count()
        self._seq = 0  # events seen so far; reconcile() uses it to tell news from a stale snapshot
        self.on_optout: Callable[[TrackedCall], None] | None = None
        # Every UserEvent, a call's or not (e.g. DialerInboundMessage from the message context).
        self.user_event_hooks: list[Callable[[Message], None]] = []
        self._handlers: dict[str, Callable[[TrackedCall, Message], None]] = {
            "Newchannel": self._on_newchannel,
            "Newstate": self._on_newstate,
            "Hangup": self._on_hangup,
            "UserEvent": self._on_userevent,
            "MixMonitorStart": self._on_mixmonitor,
            "MixMonitorStop": self._on_mixmonitor_stop,
        }

    # -- registry ---------------------------------------------------------------------------

    def track(self, call: TrackedCall) -> None:
        """Start tracking a call whose attempt row is committed (before its Originate is sent)."""
        previous = self._calls.get(call.call_id)
        if previous is not None:
            self._forget(previous)
        self._calls[call.call_id] = call
        self._per_campaign[call.campaign_id] = self._per_campaign.get(call.campaign_id, 0) + 1
        if call.hangups_done_at is not None:
            self._settling[call.call_id] = call
        heapq.heappush(self._deadlines, (call.deadline, next(self._pushes), call))
        self._bind(call.call_id, call)
        self._bind(f"{call.call_id}-2", call)

    def _bind(self, uid: str, call: TrackedCall) -> None:
        self._by_uid[uid] = call
        call.uids.add(uid)

    def __len__(self) -> int:
        return len(self._calls)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._calls

    def get(self, call_id: str) -> TrackedCall | None:
        """The live call with this id, if any."""
        return self._calls.get(call_id)

    def calls(self) -> list[TrackedCall]:
        """Every live call."""
        return list(self._calls.values())

    def live_by_campaign(self) -> dict[str, int]:
        """Live calls per campaign (kept as calls start and end, not counted here)."""
        return dict(self._per_campaign)

    # -- events -------------------------------------------------------------------------------

    @staticmethod
    def wanted_events() -> frozenset[str]:
        """The AMI events this tracker reads; the parser may skip the rest undecoded."""
        return frozenset({"OriginateResponse", "Newchannel", "Newstate", "Hangup", "UserEvent", "MixMonitorStart",
                          "MixMonitorStop"})

    def mark(self) -> int:
        """A point in the event stream: take it before asking for a CoreShowChannels snapshot."""
        return self._seq

    def on_event(self, message: Message) -> None:
        """Feed one AMI event (any order across channels; unknown calls are ignored)."""
        self._seq += 1
        name = message.get("Event")
        if name == "OriginateResponse":
            self._on_originate_response(message)
            return
        if name == "UserEvent" and self.user_event_hooks:
            self._run_user_event_hooks(message)
        handler = self._handlers.get(name or "")
        if handler is None:
            return
        call = self._find(message)
        if call is not None:
            call.seen_seq = self._seq
            handler(call, message)
            self._maybe_end(call)

    def _run_user_event_hooks(self, message: Message) -> None:
        for hook in self.user_event_hooks:
            try:
                hook(message)
            except Exception:  # an observer's bug must not stop call tracking
                log.exception("user_event_hook_failed", user_event=message.get("UserEvent"))

    def _find(self, message: Message) -> TrackedCall | None:
        uid = message.get("Uniqueid")
        if uid is not None:
            call = self._by_uid.get(uid)
            if call is not None:
                return call
        call_id = message.chanvars.get(CALL_ID_VAR) or message.get("CallID")
        call = self._calls.get(call_id) if call_id else None
        if call is None:
            linked = message.get("Linkedid")
            call = self._by_uid.get(linked) if linked else None
        if call is not None and uid is not None:
            self._bind(uid, call)
        return call

    def _leg(self, call: TrackedCall, message: Message) -> Leg | None:
        uid = message.get("Uniqueid")
        if uid is None:
            return None
        leg = call.legs.get(uid)
        if leg is None:
            leg = call.legs[uid] = Leg(uid, message.get("Channel", ""))
        elif not leg.name:
            leg.name = message.get("Channel", "")
        return leg

    def _on_originate_response(self, message: Message) -> None:
        call = self._calls.get(message.get("ActionID", ""))
        if call is None:
            return
        call.seen_seq = self._seq
        call.response = message.get("Response")
        try:
            call.reason = int(message.get("Reason", ""))
        except ValueError:
            call.reason = 0
        uid = message.get("Uniqueid")
        if uid and uid != "<unknown>":
            # A successful response names the originated channel: wait for its Hangup too.
            if uid not in self._by_uid:
                self._bind(uid, call)
            self._leg(call, message)
        if call.reason == 4:
            self._answer(call)
        self._maybe_end(call)

    def _on_newchannel(self, call: TrackedCall, message: Message) -> None:
        self._leg(call, message)

    def _on_newstate(self, call: TrackedCall, message: Message) -> None:
        # Any leg of the call: with a Local pair `;2` Up is the callee answering and `;1` Up follows;
        # with a trunk there is one channel. Either way Up means someone picked up.
        self._leg(call, message)
        state = message.get("ChannelState")
        if state == _UP:
            self._answer(call)
        elif state == _RINGING and call.state is CallState.ORIGINATING:
            self._set_state(call, CallState.RINGING)

    def _on_hangup(self, call: TrackedCall, message: Message) -> None:
        leg = self._leg(call, message)
        if leg is None:
            return
        leg.hung_up = True
        try:
            leg.cause = int(message.get("Cause", ""))
        except ValueError:
            leg.cause = None

    def _on_userevent(self, call: TrackedCall, message: Message) -> None:
        kind = message.get("UserEvent")
        if kind == "DialerAnswered":
            call.recording = message.get("Recording") or call.recording
            self._answer(call)
        elif kind == "DialerAMD":
            call.amd_status = message.get("Status")
        elif kind == "DialerOptOut":
            if not call.opted_out:
                call.opted_out = True
                if self.on_optout is not None:
                    self.on_optout(call)
        elif kind == "DialerCallback":
            call.callback_requested = True
        elif kind == "DialerAbandoned":
            call.abandoned = True
        elif kind == "DialerQueueResult":
            call.abandoned = message.get("QueueStatus", "") not in ("", "CONNECTED", "CONTINUE")

    def _on_mixmonitor(self, call: TrackedCall, message: Message) -> None:
        self._answer(call)

    def _on_mixmonitor_stop(self, call: TrackedCall, message: Message) -> None:
        call.recording_closed = True

    # -- transitions ----------------------------------------------------------------------------

    def _answer(self, call: TrackedCall) -> None:
        if call.state is CallState.ANSWERED or call.state is CallState.ENDED:
            return
        call.answered_at = self._clock.now()
        self._set_state(call, CallState.ANSWERED)

    def _set_state(self, call: TrackedCall, state: CallState) -> None:
        now = self._clock.now()
        if state is CallState.RINGING:
            call.ringing_at = now
        call.state = state
        self._on_change(CallChange(call, state, now, mono=self._clock.monotonic()))

    def _maybe_end(self, call: TrackedCall) -> None:
        if call.state is CallState.ENDED:
            return
        legs = call.legs.values()
        if call.response is not None:
            if not legs and call.reason == 0:
                # A failure with no channel seen: either none was created (unknown technology) or its
                # events are still on their way; give them the grace period before deciding.
                if call.hangups_done_at is None:
                    self._settle(call)
            elif all(leg.hung_up for leg in legs):
                self._end(call)
            return
        if legs and all(leg.hung_up for leg in legs) and call.hangups_done_at is None:
            self._settle(call)

    def _settle(self, call: TrackedCall) -> None:
        """Every leg is down: wait RESPONSE_GRACE_S for a late OriginateResponse (tick() decides)."""
        call.hangups_done_at = self._clock.monotonic()
        self._settling[call.call_id] = call

    def _end(self, call: TrackedCall, *, disposition: Disposition | None = None, detail: str = "",
             recorded: RecordedCall | None = None) -> None:
        now = self._clock.now() if recorded is None else recorded.ended_at
        cause = self._callee_cause(call)
        facts = CallFacts(
            reason=call.reason,
            callee_cause=cause,
            answered=call.answered_at is not None,
            amd_status=call.amd_status,
            opted_out=call.opted_out,
            abandoned=call.abandoned,
        )
        result = disposition or classify(facts)
        talk_s = None
        if recorded is not None:
            talk_s = recorded.talk_s
        elif call.answered_at is not None and not call.talk_unknown:
            talk_s = round(now - call.answered_at, 3)
        call.state = CallState.ENDED
        call.ended_at = now
        call.detail = detail or call.detail
        self._forget(call)
        self._on_change(CallChange(call, CallState.ENDED, now, result, talk_s, cause, self._clock.monotonic()))

    def _callee_cause(self, call: TrackedCall) -> int | None:
        legs = list(call.legs.values())
        for leg in legs:
            if leg.callee_side and leg.cause is not None:
                return leg.cause
        primary = call.legs.get(call.call_id)
        if primary is not None and primary.cause is not None:
            return primary.cause
        causes = [leg.cause for leg in legs if leg.cause is not None]
        return max(causes) if causes else None

    def _forget(self, call: TrackedCall) -> None:
        if self._calls.get(call.call_id) is call:
            del self._calls[call.call_id]
            left = self._per_campaign[call.campaign_id] - 1
            if left:
                self._per_campaign[call.campaign_id] = left
            else:
                del self._per_campaign[call.campaign_id]
        if self._settling.get(call.call_id) is call:
            del self._settling[call.call_id]
        # Its deadline entry stays in the heap until popped (then dropped): no search here.
        for uid in call.uids:
            if self._by_uid.get(uid) is call:
                del self._by_uid[uid]

    # -- failures, timeouts, reconciliation -------------------------------------------------------

    def originate_failed(self, call_id: str, message: str) -> None:
        """Asterisk refused the Originate synchronously (`Response: Error`): the call ends failed."""
        call = self._calls.get(call_id)
        if call is not None:
            self._end(call, disposition=Disposition.FAILED, detail=f"originate refused: {message}")

    def missing(self, channels: Iterable[LiveChannel], *, since: int | None = None) -> list[TrackedCall]:
        """Calls with no channel in `channels` and no event after the mark `since`: the ones
        `reconcile` would end (or keep, if never seen and not yet due)."""
        present = set()
        for channel in channels:
            call = self._by_uid.get(channel.uniqueid)
            if call is None and channel.call_id:
                call = self._calls.get(channel.call_id)
            if call is not None:
                present.add(call.call_id)
        return [call for call in self._calls.values()
                if call.call_id not in present and not (since is not None and call.seen_seq > since)]

    def settle_from_record(self, call_id: str, recorded: RecordedCall, detail: str) -> TrackedCall | None:
        """End a call that has no channel left with what Asterisk's own record says of it (its
        events were missed: a restart, an AMI outage). An opt-out goes to `on_optout` first."""
        call = self._calls.get(call_id)
        if call is None:
            return None
        if recorded.answered_at is not None:
            call.answered_at = call.answered_at or recorded.answered_at
        call.amd_status = recorded.amd_status or call.amd_status
        call.recording = recorded.recording or call.recording
        call.callback_requested = call.callback_requested or recorded.callback_requested
        call.abandoned = call.abandoned or recorded.abandoned
        for leg in call.legs.values():
            leg.hung_up = True
        if recorded.opted_out and not call.opted_out:
            call.opted_out = True
            if self.on_optout is not None:
                self.on_optout(call)
        # Survey answers the dialplan kept in the record reach the hooks as the UserEvents they
        # were (their observers store each once: one already stored is kept as it was).
        for answer in recorded.survey_answers:
            self._run_user_event_hooks(_recorded_answer_event(call_id, answer))
        self._end(call, disposition=recorded.disposition, detail=detail, recorded=recorded)
        return call

    def tick(self) -> list[TrackedCall]:
        """Settle calls waiting for a late OriginateResponse; return calls past their deadline.

        Looks only at the calls settling and at the heap's due entries, not at every live call.
        """
        mono = self._clock.monotonic()
        now = self._clock.now()
        for call in list(self._settling.values()):
            assert call.hangups_done_at is not None
            if mono - call.hangups_done_at >= self.RESPONSE_GRACE_S:
                self._end(call, detail="" if call.response else "no OriginateResponse after the hangups")
        overdue: list[TrackedCall] = []
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            _, _, call = heapq.heappop(heap)
            if self._calls.get(call.call_id) is not call:
                continue  # ended (or replaced) since it was pushed
            if call.deadline > now:  # extended since: wait for the new deadline
                heapq.heappush(heap, (call.deadline, next(self._pushes), call))
                continue
            overdue.append(call)
        for call in overdue:  # still live: due again at every tick until its deadline moves
            heapq.heappush(heap, (call.deadline, next(self._pushes), call))
        if len(heap) > 4 * len(self._calls) + 1024:  # entries of ended calls: rebuild now and then
            self._deadlines = [(c.deadline, next(self._pushes), c) for c in self._calls.values()]
            heapq.heapify(self._deadlines)
        return overdue

    def reconcile(
        self,
        channels: Iterable[LiveChannel],
        *,
        vanished: Disposition | None = None,
        vanished_detail: str,
        keep_unseen_until_deadline: bool = True,
        extend_s: float = 60.0,
        since: int | None = None,
        keep: frozenset[str] = frozenset(),
    ) -> list[TrackedCall]:
        """Compare live calls with what Asterisk reports; end those that are gone.

        A call with a channel still up is kept (and learns its channels); a call with no channel
        left ends with `vanished` (or what its events already tell). A call never seen on the PBX
        is kept until its deadline if `keep_unseen_until_deadline` (its Originate may still be
        queued). With `since` (a `mark()` taken before the snapshot was asked for), a call that had
        events after the mark is kept: the snapshot may predate its channels. Calls in `keep` (waiting
        for their record at Asterisk) are left alone. Returns the calls that were ended.
        """
        present: dict[str, list[LiveChannel]] = {}
        for channel in channels:
            call = self._by_uid.get(channel.uniqueid)
            if call is None and channel.call_id:
                call = self._calls.get(channel.call_id)
            if call is not None:
                present.setdefault(call.call_id, []).append(channel)
        ended = []
        now = self._clock.now()
        for call in list(self._calls.values()):
            seen = present.get(call.call_id)
            if seen:
                live_uids = {c.uniqueid for c in seen}
                for channel in seen:
                    self._bind(channel.uniqueid, call)
                    call.legs.setdefault(channel.uniqueid, Leg(channel.uniqueid, channel.name))
                    if channel.state == "Up" and channel.uniqueid == call.call_id:
                        self._answer(call)
                for leg in call.legs.values():
                    if leg.uniqueid not in live_uids and not leg.hung_up:
                        leg.hung_up = True
                        call.talk_unknown = True
                call.deadline = max(call.deadline, now + extend_s)
                continue
            if since is not None and call.seen_seq > since:
                continue  # news after the snapshot was asked for: the snapshot cannot judge it
            if call.call_id in keep:
                continue
            # Restored calls the previous process saw ringing or answered are not "never seen".
            never_seen = not call.legs and call.response is None and call.state is CallState.ORIGINATING
            if never_seen and keep_unseen_until_deadline and now < call.deadline:
                continue  # its Originate may still be queued in Asterisk
            if any(not leg.hung_up for leg in call.legs.values()):
                call.talk_unknown = True
            for leg in call.legs.values():
                leg.hung_up = True
            knows_outcome = call.response is not None or any(
                leg.cause is not None for leg in call.legs.values()
            )
            ended.append(call)
            self._end(call, disposition=None if knows_outcome else vanished, detail=vanished_detail)
        return ended


def channels_from_list(events: Iterable[Message]) -> list[LiveChannel]:
    """CoreShowChannel events -> LiveChannel records."""
    out = []
    for event in events:
        if event.get("Event") != "CoreShowChannel":
            continue
        out.append(LiveChannel(
            uniqueid=event.get("Uniqueid", ""),
            name=event.get("Channel", ""),
            call_id=event.chanvars.get(CALL_ID_VAR) or None,
            state=event.get("ChannelStateDesc", ""),
        ))
    return out


class ColumnsByName(Protocol):
    """A database row read by column name (sqlite3.Row; the tracker does not import the store)."""

    def __getitem__(self, key: str, /) -> Any: ...


def restored_call(row: ColumnsByName, deadline: float) -> TrackedCall:
    """A live attempt read back from the database after a restart."""
    state = CallState(str(row["state"]))
    return TrackedCall(
        call_id=str(row["call_id"]),
        attempt_id=int(row["id"]),
        lead_id=int(row["lead_id"]),
        campaign_id=str(row["campaign_id"]),
        number=str(row["number"]),
        originated_at=float(row["created_at"]),
        deadline=deadline,
        state=state,
        answered_at=float(row["answered_at"]) if row["answered_at"] is not None else None,
        restored=True,
    )


def _recorded_answer_event(call_id: str, answer: RecordedAnswer) -> Message:
    """The UserEvent DialerSurveyAnswer the dialplan sent for an answer found in the record; `At`
    is when it was given (the record's epoch), for an observer that missed the live event."""
    message = Message()
    message.update({"Event": "UserEvent", "UserEvent": "DialerSurveyAnswer", "CallID": call_id,
                    "Question": answer.question, "Keys": answer.keys, "Status": answer.status})
    if answer.answered_at is not None:
        message["At"] = repr(answer.answered_at)
    return message
