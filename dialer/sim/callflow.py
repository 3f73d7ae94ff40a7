"""One originated call, from the Originate to the last Hangup, for every callee outcome.

The event sequences follow the transcripts (files 03-16, 18, 20, 22, 23): a Local channel gives
the `;1`/`;2` pair with the `[callees]` dialplan on `;2`; a trunk technology gives one channel.
Each step runs in one loop callback and delivers its events as one batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dialer.sim import events as ev
from dialer.sim.callees import CalleePlan, Outcome
from dialer.sim.cdr import ChannelCdr
from dialer.sim.channels import BUSY, DOWN, RING, RINGING, UNKNOWN, UP, Channel, DialTarget
from dialer.sim.dialplan import SOUNDS, DialerScript
from dialer.sim.oplog import CallEndRecord

if TYPE_CHECKING:
    from asyncio import TimerHandle

    from dialer.sim.pbx import Pbx

SETUP_DELAY_S = 0.0005  # Response -> first Newchannel
CALLEE_DELAY_S = 0.001  # DialBegin -> the callee's first dialplan step
DTMF_GAP_S = 0.1  # SendDTMF -> DTMFBegin -> DTMFEnd (file 16)
SHR_END = 16  # SoftHangupRequest flag when a channel's dialplan ends
SHR_SHUTDOWN = 4

ANSWERING = frozenset(
    {Outcome.ANSWERED, Outcome.ANSWERED_REJECTED, Outcome.MACHINE, Outcome.OPTOUT, Outcome.CALLBACK, Outcome.LONG}
)
KEY_PRESSERS = frozenset({Outcome.OPTOUT, Outcome.CALLBACK})

# The [callees] dialplan of each outcome: NoOp text and the application that runs after Answer.
CALLEE_NOOP: dict[Outcome, str] = {
    Outcome.ANSWERED: "answer, talk, hang up normally",
    Outcome.BUSY: "busy",
    Outcome.NO_ANSWER: "no answer",
    Outcome.CONGESTION: "congestion",
    Outcome.REJECTED: "rejected before answer",
    Outcome.ANSWERED_REJECTED: "answer, then reject with cause 21",
    Outcome.UNALLOCATED: "unallocated, cause 1",
    Outcome.MACHINE: "answering machine",
    Outcome.OPTOUT: "human, opts out with DTMF 9",
    Outcome.CALLBACK: "human, asks for a callback with DTMF",
    Outcome.LONG: "long call",
}
TALK_APPS: dict[Outcome, tuple[tuple[str, str], ...]] = {
    Outcome.ANSWERED: (("Playback", f"{SOUNDS}/callee-long"),),
    Outcome.LONG: (("Playback", f"{SOUNDS}/callee-long"),),
    Outcome.MACHINE: (("Playback", f"{SOUNDS}/machine-greeting"),),
    Outcome.OPTOUT: (("Wait", "0.5"), ("Playback", f"{SOUNDS}/callee-hello")),
    Outcome.CALLBACK: (("Wait", "0.5"), ("Playback", f"{SOUNDS}/callee-hello")),
}
# OriginateResponse Reason for a hangup before answer, by the callee's cause (main/pbx.c).
PRE_ANSWER_REASON = {17: 5, 34: 8, 19: 3}


def _secs(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class OriginateRequest:
    """A validated Originate action."""

    action_id: str
    channel: str
    context: str
    exten: str
    priority: int
    timeout_s: float  # simulated seconds
    cid_num: str | None
    cid_name: str | None
    variables: tuple[tuple[str, str], ...]
    channel_id: str
    other_channel_id: str
    is_async: bool


class Call:
    """The state and timeline of one originated call."""

    def __init__(
        self,
        pbx: Pbx,
        req: OriginateRequest,
        target: DialTarget,
        plan: CalleePlan,
        on_result: Callable[[bool], None] | None,
    ) -> None:
        self.pbx = pbx
        self.req = req
        self.target = target
        self.plan = plan
        self.on_result = on_result
        self.one: Channel | None = None
        self.two: Channel | None = None
        self.phase = "new"  # new | dialing | ringing | up | ended
        self.reason: int | None = None
        self.causes: dict[str, int] = {}
        self.hangup_by = ""
        self.script: DialerScript | None = None
        self.answered_at: float | None = None
        self.answered_wall: float | None = None
        self.rec_path: str | None = None
        self._rec_started: float | None = None
        self._timers: list[TimerHandle] = []
        self._result: bool | None = None
        self.device = f"Local/{target.data}" if target.tech == "Local" else f"{target.tech}/{target.where}"
        self.call_id = ""
        self.cdr_vars: dict[str, str] = {}  # Set(CDR(name)=...) of the dialplan on the answered leg
        for name, value in req.variables:
            if name.lstrip("_") == "DIALER_CALL_ID":
                self.call_id = value

    # -- plumbing -------------------------------------------------------------------------

    def after(self, sim_s: float, fn: Callable[..., Any], *args: Any) -> TimerHandle:
        """Run `fn` after `sim_s` simulated seconds; cancelled when the call ends."""
        handle = self.pbx.later(sim_s, fn, *args)
        self._timers.append(handle)
        return handle

    def batch(self) -> ev.Batch:
        """A new batch for the current listeners."""
        return ev.Batch(self.pbx.listen_mask, self.pbx.order_rng)

    def deliver(self, b: ev.Batch) -> None:
        """Send a batch, then the synchronous Originate result once it is decided."""
        self.pbx.deliver(b.finish())
        result = self._result
        if result is not None:
            self._result = None
            callback, self.on_result = self.on_result, None
            if callback is not None:
                callback(result)

    @property
    def channels(self) -> list[Channel]:
        """The live channels of this call."""
        return [c for c in (self.one, self.two) if c is not None and not c.hungup]

    def _cid(self) -> tuple[str, str]:
        return (self.req.cid_num or UNKNOWN, self.req.cid_name or UNKNOWN)

    # -- start ----------------------------------------------------------------------------

    def start(self) -> None:
        """Schedule the first step."""
        if self.plan.outcome is Outcome.CHANNEL_FAILURE or not self.target.known or not self.pbx.accepting:
            self.after(SETUP_DELAY_S, self._fail_without_channel)
        else:
            self.after(SETUP_DELAY_S, self._setup)

    def _fail_without_channel(self) -> None:
        b = self.batch()
        self._originate_failed(b, 0)
        self.hangup_by = "pbx"
        self.deliver(b)
        self._finish()

    def _set_vars(self, b: ev.Batch, ch: Channel, variables: Any) -> None:
        for name, value in variables:
            ch.setvar(name, value)
            b.add(ev.varset, ch, name, value)

    def _caller_id(self, b: ev.Batch, ch: Channel, connected_too: bool) -> None:
        if self.req.cid_num is None and self.req.cid_name is None:
            return
        num, name = self._cid()
        if connected_too:
            ch.set(cid_num=num, cid_name=name, conn_num=num, conn_name=name)
            b.add(ev.newcallerid, ch)
        else:
            ch.set(cid_num=num, cid_name=name)
            b.add(ev.newcallerid, ch)
            ch.set(conn_num=num, conn_name=name)
        b.add(ev.newconnectedline, ch)

    def _setup(self) -> None:
        pbx, req, t = self.pbx, self.req, self.target
        if any(uid and uid in pbx.by_uid for uid in (req.channel_id, req.other_channel_id)):
            self._fail_without_channel()  # a ChannelId already in use: no channel can be made
            return
        counters = pbx.counters
        now = pbx.loop.time()
        chanvars = pbx.chanvars
        u1 = counters.uniqueid()
        b = self.batch()
        if t.tech == "Local":
            u2 = counters.uniqueid()
            u1 = req.channel_id or u1
            u2 = req.other_channel_id or u2
            base = f"Local/{t.exten}@{t.where}-{counters.local_suffix()}"
            one = Channel(f"{base};1", u1, u1, DOWN, t.where, t.exten, chanvars, "Local", now)
            two = Channel(f"{base};2", u2, u1, RING, t.where, t.exten, chanvars, "Local", now)
            two.app = two.appdata = ""
            self.one, self.two = one, two
            pbx.add_channel(one, self)
            pbx.add_channel(two, self)
            b.add(ev.newchannel, one)
            b.add(ev.newchannel, two)
            b.add(ev.newexten, one)
            # Asterisk sets the Originate variables in reverse order on ;1 (03: CAMPAIGN first)
            self._set_vars(b, one, reversed(req.variables))
            self._caller_id(b, one, connected_too=False)
            # Local copies them to ;2 in the order sent; those VarSets still show ;2's old values
            stale = two.block if b.mask & ev.DIALPLAN else ""
            for name, value in req.variables:
                b.add(ev.varset, two, name, value, stale)
            for name, value in req.variables:
                two.setvar(name, value)
            self._caller_id(b, two, connected_too=True)
            if self.plan.outcome is Outcome.NO_SUCH_EXTENSION:
                self._no_such_extension(b)
                return
            b.add(ev.local_bridge, one, two, t.where, t.exten)
        else:
            name = f"{t.tech}/{t.where}-{counters.tech_suffix(t.tech)}"
            u1 = req.channel_id or u1
            one = Channel(name, u1, u1, DOWN, "default", "s", chanvars, t.tech, now)
            self.one = one
            pbx.add_channel(one, self)
            b.add(ev.newchannel, one)
            b.add(ev.newexten, one)
            self._set_vars(b, one, reversed(req.variables))
            self._caller_id(b, one, connected_too=False)
        b.add(ev.dial_begin, self.one, t.data)
        self.phase = "dialing"
        self.deliver(b)
        self.after(CALLEE_DELAY_S, self._callee_start)

    # -- before answer --------------------------------------------------------------------

    def _two_app(self, b: ev.Batch, app: str, data: str, first: bool = False) -> None:
        two = self.two
        assert two is not None
        two.priority = 1 if first else two.priority + 1
        two.app = app
        two.appdata = data
        two.changed()
        b.add(ev.newexten, two)

    def _callee_start(self) -> None:
        plan = self.plan
        b = self.batch()
        if self.two is not None:
            text = CALLEE_NOOP.get(plan.outcome, "unallocated, cause 1")
            self._two_app(b, "NoOp", f"callee {self.target.exten}: {text}", first=True)
        remaining = max(0.0, self.req.timeout_s - CALLEE_DELAY_S)
        if plan.outcome is Outcome.NO_ANSWER or plan.ring_s > 0:
            self._ringing(b)
            self.deliver(b)
            # compare in simulated time, so a time_scale of 0 keeps the outcomes right
            if plan.outcome is Outcome.NO_ANSWER or plan.ring_s >= remaining:
                self.after(remaining, self._no_answer)
            else:
                self.after(plan.ring_s, self._ring_end)
            return
        self._resolve(b)

    def _ringing(self, b: ev.Batch) -> None:
        one = self.one
        assert one is not None
        self.phase = "ringing"
        wait = "60" if self.plan.outcome is Outcome.NO_ANSWER else _secs(self.plan.ring_s)
        if self.two is not None:
            self._two_app(b, "Ringing", "")
        one.set(state=RINGING)
        b.add(ev.newstate, one)
        if self.two is not None:
            self._two_app(b, "Wait", wait)
        b.add(ev.dial_state, one, "RINGING")
        b.add(ev.device_state, self.device, "INUSE")

    def _ring_end(self) -> None:
        self._resolve(self.batch())

    def _resolve(self, b: ev.Batch) -> None:
        outcome = self.plan.outcome
        if outcome in ANSWERING:
            self._answer(b)
        elif outcome is Outcome.BUSY:
            self._busy(b, 17, "Busy", "BUSY", 5, "BUSY")
        elif outcome is Outcome.CONGESTION:
            self._busy(b, 34, "Congestion", "CONGESTION", 8, "FAILED")
        elif outcome is Outcome.REJECTED:
            self._callee_rejects(b, 21)
        else:  # unallocated; a non-number sent to a trunk is a 404 as well
            self._callee_rejects(b, 1)

    def _originate_failed(self, b: ev.Batch, reason: int, lo: int | None = None) -> None:
        self.reason = reason
        if not self.req.is_async:
            self._result = False  # no OriginateResponse for a synchronous Originate (file 23)
            return
        num, name = self._cid()
        args = (
            self.req.action_id,
            False,
            self.req.channel,
            self.req.context,
            self.req.exten,
            reason,
            "<unknown>",
            num,
            name,
        )
        if lo is None:
            b.add(ev.originate_response, *args)
        else:
            b.float(lo, ev.originate_response, *args)

    def _originate_ok(self, b: ev.Batch, lo: int) -> None:
        one = self.one
        assert one is not None
        self.reason = 4
        if not self.req.is_async:
            self._result = True
            return
        chanvars = tuple((n, one.vars.get(n, "")) for n in one.chanvars)
        b.float(
            lo,
            ev.originate_response,
            self.req.action_id,
            True,
            one.name,
            self.req.context,
            self.req.exten,
            4,
            one.uniqueid,
            one.cid_num,
            one.cid_name,
            chanvars,
        )

    def _cdr(self, b: ev.Batch, lo: int, ch: Channel, disposition: str) -> None:
        end = time.time()
        if b.mask & ev.CDR:
            b.float(lo, ev.cdr, ch, disposition, ch.created_wall, self.answered_wall, end)
        log = self.pbx.cdr_log
        if log is not None:
            # The shipped cdr.conf has congestion = yes: CONGESTION, not the FAILED of the transcripts.
            if disposition == "FAILED" and self.plan.outcome is Outcome.CONGESTION:
                disposition = "CONGESTION"
            assert self.one is not None
            log.post(ChannelCdr(ch.uniqueid, self.one.uniqueid, disposition, ch.created_wall,
                                self.answered_wall if disposition == "ANSWERED" else None, end,
                                self.cdr_vars if ch is self.one else {}))

    def _hangup_channel(self, b: ev.Batch, ch: Channel, cause: int) -> None:
        b.add(ev.hangup, ch, cause)
        self.causes[ch.name] = cause
        ch.hungup = True
        self.pbx.remove_channel(ch)
        if ch is self.one:
            self._stop_recording()

    def _busy(self, b: ev.Batch, cause: int, app: str, status: str, reason: int, disposition: str) -> None:
        one, two = self.one, self.two
        assert one is not None
        self.hangup_by = "callee"
        if two is not None:
            self._two_app(b, app, "5")
            two.set(state=BUSY)
            b.add(ev.newstate, two)
            b.add(ev.dial_end, one, status)
            b.add(ev.hangup_request, two, 0)
            lo = b.mark()
            self._originate_failed(b, reason, lo)
            self._hangup_channel(b, one, 0)  # with Local the ;1 leg shows 0 (files 04, 06)
            b.add(ev.soft_hangup_request, two, SHR_END)
            self._hangup_channel(b, two, cause)
            self._cdr(b, 0, one, disposition)
            self._cdr(b, lo, two, disposition)
        else:
            b.add(ev.dial_end, one, status)
            lo = b.mark()
            self._originate_failed(b, reason, lo)
            self._hangup_channel(b, one, cause)
            self._cdr(b, 0, one, disposition)
        b.add(ev.device_state, self.device, "NOT_INUSE")
        b.add(ev.device_state, self.device, "NOT_INUSE")
        self.deliver(b)
        self._finish()

    def _callee_rejects(self, b: ev.Batch, cause: int) -> None:
        one, two = self.one, self.two
        assert one is not None
        self.hangup_by = "callee"
        if two is not None:
            self._two_app(b, "Hangup", str(cause))
            lo = b.mark()
            self._originate_failed(b, 0, lo)
            b.add(ev.soft_hangup_request, two, SHR_END)
            b.add(ev.hangup_request, one, cause)
            self._hangup_channel(b, two, cause)
            b.add(ev.dial_end, one, "NOANSWER")
            self._hangup_channel(b, one, cause)
            self._cdr(b, lo, two, "NO ANSWER")
            self._cdr(b, lo, one, "NO ANSWER")
        else:
            b.add(ev.hangup_request, one, cause)
            b.add(ev.dial_end, one, "NOANSWER")
            lo = b.mark()
            self._originate_failed(b, 0, lo)
            self._hangup_channel(b, one, cause)
            self._cdr(b, lo, one, "NO ANSWER")
        b.add(ev.device_state, self.device, "NOT_INUSE")
        b.add(ev.device_state, self.device, "NOT_INUSE")
        self.deliver(b)
        self._finish()

    def _no_answer(self) -> None:
        if self.phase not in ("dialing", "ringing"):
            return
        one, two = self.one, self.two
        assert one is not None
        b = self.batch()
        self.hangup_by = "timeout"
        if two is not None:
            b.add(ev.hangup_request, two, 19)
            lo = b.mark()
            self._originate_failed(b, 3, lo)
            b.add(ev.soft_hangup_request, two, SHR_END)
            self._hangup_channel(b, one, 19)
            b.add(ev.device_state, self.device, "NOT_INUSE")
            self._hangup_channel(b, two, 19)
            self._cdr(b, lo, one, "NO ANSWER")
            self._cdr(b, lo, two, "NO ANSWER")
        else:
            lo = b.mark()
            self._originate_failed(b, 3, lo)
            self._hangup_channel(b, one, 19)
            self._cdr(b, lo, one, "NO ANSWER")
        b.add(ev.device_state, self.device, "NOT_INUSE")
        self.deliver(b)
        self._finish()

    def _no_such_extension(self, b: ev.Batch) -> None:
        """File 11: Local to an extension that does not exist in the callee context."""
        one, two = self.one, self.two
        assert one is not None
        assert two is not None
        self.hangup_by = "pbx"
        lo = b.mark()
        self._hangup_channel(b, two, 0)
        self._originate_failed(b, 0, lo)
        b.add(ev.device_state, self.device, "INVALID")
        self._hangup_channel(b, one, 0)
        b.add(ev.device_state, self.device, "INVALID")
        self._cdr(b, 3, two, "FAILED")
        self._cdr(b, lo, one, "FAILED")
        self.deliver(b)
        self._finish()

    # -- answer and after -----------------------------------------------------------------

    def _answer(self, b: ev.Batch) -> None:
        one, two, plan = self.one, self.two, self.plan
        assert one is not None
        rng = self.pbx.order_rng
        self.phase = "up"
        self.answered_at = self.pbx.loop.time()
        self.answered_wall = time.time()
        lo = 0
        late_up = rng.random() < 0.5  # ;2's Newstate Up sometimes comes after [dialer] ran (03)
        if two is not None:
            self._two_app(b, "Answer", "")
            if plan.ring_s > 0:
                lo = b.mark()  # after ringing, OriginateResponse never precedes the Answer
            two.set(state=UP)
            if not late_up:
                b.add(ev.newstate, two)
                b.add(ev.device_state, self.device, "INUSE")
        one.set(state=UP)
        b.add(ev.newstate, one)
        b.add(ev.dial_end, one, "ANSWER")
        self.script = DialerScript(self)
        self.script.start(b)
        if two is not None:
            if late_up:
                b.add(ev.newstate, two)
            for app, data in TALK_APPS.get(plan.outcome, (("Wait", _secs(plan.talk_s)),)):
                self._two_app(b, app, data)
        b.add(ev.device_state, self.device, "INUSE")
        self._originate_ok(b, lo)
        self.deliver(b)
        if plan.outcome in KEY_PRESSERS:
            self.after(plan.dtmf_s, self._send_dtmf)
        cause = 21 if plan.outcome is Outcome.ANSWERED_REJECTED else 16
        self.after(plan.talk_s, self._callee_hangs_up, cause)

    @property
    def _digit(self) -> str:
        """The key the callee presses: 9 to opt out, or the callback key the message offered."""
        if self.plan.outcome is Outcome.CALLBACK and self.one is not None:
            return self.one.vars.get("DIALER_CALLBACK_KEY") or "1"
        return "9"

    def _send_dtmf(self) -> None:
        if self.phase != "up":
            return
        two = self.two
        if two is not None:
            b = self.batch()
            if two.app == "Playback":  # Playback(callee-hello) ended, Wait(4), SendDTMF(9) (file 16)
                two.setvar("PLAYBACKSTATUS", "SUCCESS")
                b.add(ev.varset, two, "PLAYBACKSTATUS", "SUCCESS")
                self._two_app(b, "Wait", "4")
            self._two_app(b, "SendDTMF", self._digit)
            self.deliver(b)
        self.after(DTMF_GAP_S, self._dtmf_begin)

    def _dtmf_begin(self) -> None:
        assert self.one is not None
        b = self.batch()
        b.add(ev.dtmf_begin, self.one, self._digit)
        self.deliver(b)
        self.after(DTMF_GAP_S, self._dtmf_end)

    def _dtmf_end(self) -> None:
        assert self.one is not None
        assert self.script is not None
        b = self.batch()
        b.add(ev.dtmf_end, self.one, self._digit, 100)
        if self.script.on_digit(b, self._digit):
            self.dialer_hangup(b)
        else:
            self.deliver(b)

    def _callee_hangs_up(self, cause: int) -> None:
        if self.script is not None and self.script.holds_callee:
            return  # a survey callee stays until the survey ends, or leaves by its own draw
        if self.phase == "up":
            self.hangup_by = "callee"
            self._callee_hangup(self.batch(), cause, by_callee=True)

    def callee_hangs_up_now(self) -> None:
        """The callee hangs up at once (a survey callee leaving mid-survey)."""
        if self.phase == "up":
            self.hangup_by = "callee"
            self._callee_hangup(self.batch(), 16, by_callee=True)

    def _callee_hangup(self, b: ev.Batch, cause: int, by_callee: bool) -> None:
        """The called side ends an answered call (files 03, 07)."""
        one, two = self.one, self.two
        assert one is not None
        assert self.script is not None
        if two is not None:
            lo2 = b.mark()
            if by_callee:
                if two.app == "Playback":
                    two.setvar("PLAYBACKSTATUS", "SUCCESS")
                    b.add(ev.varset, two, "PLAYBACKSTATUS", "SUCCESS")
                self._two_app(b, "Hangup", str(cause))
            b.add(ev.soft_hangup_request, two, SHR_END)
            b.add(ev.hangup_request, one, cause)
            lo1 = b.mark()
            early = self.pbx.order_rng.random() < 0.5
            if early:
                self._hangup_channel(b, two, cause)
                b.add(ev.device_state, self.device, "NOT_INUSE")
            self.script.interrupt(b)
            b.add(ev.soft_hangup_request, one, SHR_END)
            if not early:
                self._hangup_channel(b, two, cause)
            self._hangup_channel(b, one, cause)
            b.add(ev.device_state, self.device, "NOT_INUSE")
            if not early:
                b.add(ev.device_state, self.device, "NOT_INUSE")
            self._cdr(b, lo2, two, "ANSWERED")
            self._cdr(b, lo1, one, "ANSWERED")
        else:
            lo1 = b.mark()
            b.add(ev.hangup_request, one, cause)
            self.script.interrupt(b)
            b.add(ev.soft_hangup_request, one, SHR_END)
            self._hangup_channel(b, one, cause)
            b.add(ev.device_state, self.device, "NOT_INUSE")
            self._cdr(b, lo1, one, "ANSWERED")
        self.deliver(b)
        self._finish()

    def dialer_hangup(self, b: ev.Batch, cause: int = 16) -> None:
        """The answered leg ends the call: [dialer] Hangup(16) (15, 16, 22) or a Hangup action (18)."""
        one, two = self.one, self.two
        assert one is not None
        if not self.hangup_by:
            self.hangup_by = "dialplan"
        lo1 = b.mark()
        b.add(ev.soft_hangup_request, one, SHR_END)
        if two is not None:
            b.add(ev.hangup_request, two, cause)
        self._cdr(b, lo1, one, "ANSWERED")
        self._hangup_channel(b, one, cause)
        if two is not None:
            lo2 = b.mark()
            if two.app == "Playback":
                two.setvar("PLAYBACKSTATUS", "SUCCESS")
                b.add(ev.varset, two, "PLAYBACKSTATUS", "SUCCESS")
            b.add(ev.soft_hangup_request, two, SHR_END)
            self._hangup_channel(b, two, cause)
            b.add(ev.device_state, self.device, "NOT_INUSE")
            self._cdr(b, lo2, two, "ANSWERED")
        b.add(ev.device_state, self.device, "NOT_INUSE")
        self.deliver(b)
        self._finish()

    # -- from outside: Hangup action, StopMixMonitor, shutdown ------------------------------

    def hangup_action(self, ch: Channel, cause: int) -> None:
        """Action: Hangup on one of this call's channels."""
        if self.phase == "ended" or ch.hungup:
            return
        self.hangup_by = "client"
        b = self.batch()
        if self.phase == "up":
            if ch is self.one:
                assert self.script is not None
                self.script.interrupt(b)  # the running Read() reports HANGUP first (file 18)
                self.dialer_hangup(b, cause)
            else:
                self._callee_hangup(b, cause, by_callee=False)
            return
        one, two = self.one, self.two
        assert one is not None
        if two is not None:
            other = two if ch is one else one
            b.add(ev.soft_hangup_request, ch, SHR_END)
            b.add(ev.hangup_request, other, cause)
            lo = b.mark()
            self._hangup_channel(b, two, cause)
            b.add(ev.dial_end, one, "CANCEL" if ch is one else "NOANSWER")
            self._originate_failed(b, PRE_ANSWER_REASON.get(cause, 0), lo)
            self._hangup_channel(b, one, cause)
            self._cdr(b, lo, two, "NO ANSWER")
            self._cdr(b, lo, one, "NO ANSWER")
        else:
            b.add(ev.soft_hangup_request, one, SHR_END)
            b.add(ev.dial_end, one, "CANCEL")
            lo = b.mark()
            self._originate_failed(b, PRE_ANSWER_REASON.get(cause, 0), lo)
            self._hangup_channel(b, one, cause)
            self._cdr(b, lo, one, "NO ANSWER")
        b.add(ev.device_state, self.device, "NOT_INUSE")
        self.deliver(b)
        self._finish()

    def shutdown(self) -> None:
        """`core stop now`: SoftHangupRequest 4 on every channel, Hangup cause 0 (file 20)."""
        if self.phase == "ended":
            return
        self.hangup_by = "shutdown"
        if self.phase == "new":
            self._fail_without_channel()
            return
        one, two = self.one, self.two
        assert one is not None
        b = self.batch()
        answered = self.phase == "up"
        disposition = "ANSWERED" if answered else "NO ANSWER"
        if two is not None:
            b.add(ev.soft_hangup_request, two, SHR_SHUTDOWN)
        b.add(ev.soft_hangup_request, one, SHR_SHUTDOWN)
        lo = b.mark()
        if two is not None:
            if two.app == "Playback":
                two.setvar("PLAYBACKSTATUS", "SUCCESS")
                b.add(ev.varset, two, "PLAYBACKSTATUS", "SUCCESS")
            b.add(ev.soft_hangup_request, two, SHR_END)
            b.add(ev.hangup_request, one, 0)
            self._hangup_channel(b, two, 0)
            b.add(ev.device_state, self.device, "NOT_INUSE")
            self._cdr(b, lo, two, disposition)
        if not answered:
            self._originate_failed(b, 0, lo)
        if self.script is not None:
            self.script.interrupt(b)
        b.add(ev.soft_hangup_request, one, SHR_END)
        self._hangup_channel(b, one, 0)
        b.add(ev.device_state, self.device, "NOT_INUSE")
        self._cdr(b, lo, one, disposition)
        self.deliver(b)
        self._finish()

    def abort(self) -> None:
        """Stop without events (SimServer.stop)."""
        for ch in self.channels:
            ch.hungup = True
            self.pbx.remove_channel(ch)
        self._stop_recording()
        self._cancel_timers()
        self.phase = "ended"

    # -- recording and the end ----------------------------------------------------------------

    def start_recording(self, path_text: str) -> None:
        """MixMonitor started on `path_text` (relative paths go under the spool directory)."""
        path = Path(path_text)
        if not path.is_absolute():
            path = self.pbx.spool_dir / path
        self.rec_path = str(path)
        self._rec_started = self.pbx.loop.time()
        self.pbx.open_recording(path, self.plan.recording)

    @property
    def recording_active(self) -> bool:
        """Whether MixMonitor is running on the answered leg."""
        return self._rec_started is not None

    def stop_recording(self) -> None:
        """StopMixMonitor: close the file now and report MixMonitorStop."""
        if self._rec_started is None or self.one is None:
            return
        self._stop_recording()
        b = self.batch()
        b.add(ev.mixmonitor_stop, self.one)
        self.deliver(b)

    def _stop_recording(self) -> None:
        if self._rec_started is None or self.rec_path is None:
            return
        duration = self.pbx.loop.time() - self._rec_started
        self._rec_started = None
        self.pbx.write_recording(Path(self.rec_path), duration, self.plan.recording)

    def _cancel_timers(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()

    def _finish(self) -> None:
        self.phase = "ended"
        self._cancel_timers()
        end = self.pbx.loop.time()
        talk = None if self.answered_at is None else end - self.answered_at
        record = CallEndRecord(
            time=time.time(),
            action_id=self.req.action_id,
            call_id=self.call_id,
            outcome=self.plan.outcome.value,
            reason=self.reason,
            causes=dict(self.causes),
            uniqueid=self.one.uniqueid if self.one is not None else "<unknown>",
            hangup_by=self.hangup_by,
            recording=self.rec_path,
            talk_s=talk,
            extra={"recording_mode": self.plan.recording, "channel": self.req.channel,
                   "cdr_vars": dict(self.cdr_vars)},
        )
        self.pbx.call_ended(self, record)
