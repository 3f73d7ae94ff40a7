"""Event templates with the header order of the recorded Asterisk 22.10.1 (EVENT-CATALOGUE.md).

Each builder returns the complete CRLF message including its terminating blank line, so
delivering it is a string append. Builders are registered with their event class, so a `Batch`
can skip formatting events that no connected session would receive.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from dialer.sim.channels import Channel
from dialer.sim.config import CLASS_BITS

SYSTEM = CLASS_BITS["system"]
CALL = CLASS_BITS["call"]
USER = CLASS_BITS["user"]
DTMF = CLASS_BITS["dtmf"]
CDR = CLASS_BITS["cdr"]
DIALPLAN = CLASS_BITS["dialplan"]
SECURITY = CLASS_BITS["security"]

Ev = tuple[int, str]
Builder = Callable[..., str]
F = TypeVar("F", bound=Builder)

# Event class of every builder below.
CLASS_OF: dict[Builder, int] = {}


def event_class(bit: int) -> Callable[[F], F]:
    """Register a builder's event class."""

    def register(fn: F) -> F:
        CLASS_OF[fn] = bit
        return fn

    return register


def build(fn: Builder, *args: Any) -> Ev:
    """Format one event now, with its class."""
    return CLASS_OF[fn], fn(*args)


class Batch:
    """The events of one step of one call, in order; some float to a random position at the end.

    Per-channel order is what Asterisk guarantees; OriginateResponse and Cdr land anywhere in a
    window, as in the transcripts, chosen with the seeded order generator.
    """

    __slots__ = ("_floats", "items", "mask", "rng")

    def __init__(self, mask: int, rng: random.Random) -> None:
        self.items: list[Ev] = []
        self.mask = mask
        self.rng = rng
        self._floats: list[tuple[int, int | None, int, str]] = []

    def add(self, fn: Builder, *args: Any) -> None:
        """Append an event, formatting it only if some session would receive its class."""
        bit = CLASS_OF[fn]
        if self.mask & bit:
            self.items.append((bit, fn(*args)))

    def mark(self) -> int:
        """Position after the events added so far (a window start for `float`)."""
        return len(self.items)

    def float(self, lo: int, fn: Builder, *args: Any, hi: int | None = None) -> None:
        """Place an event at a random position in [lo, hi] (hi defaults to the end)."""
        bit = CLASS_OF[fn]
        if self.mask & bit:
            self._floats.append((lo, hi, bit, fn(*args)))

    def finish(self) -> list[Ev]:
        """The final order."""
        items = self.items
        if not self._floats:
            return items
        n = len(items)
        rng = self.rng
        placed = sorted(
            (rng.randint(min(lo, n), n if hi is None else min(hi, n)), rng.random(), bit, text)
            for lo, hi, bit, text in self._floats
        )
        out: list[Ev] = []
        j = 0
        for pos, _, bit, text in placed:
            out.extend(items[j:pos])
            out.append((bit, text))
            j = pos
        out.extend(items[j:])
        return out


# Q.850 cause texts as ast_cause2str() prints them.
CAUSE_TEXT: dict[int, str] = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    2: "No route to specified transmit network",
    3: "No route to destination",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    20: "Subscriber absent",
    21: "Call Rejected",
    22: "Number changed",
    26: "Answered elsewhere",
    27: "Destination out of order",
    28: "Invalid number format",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    41: "Temporary failure",
    42: "Switching equipment congestion",
    44: "Requested channel not available",
    58: "Bearer capability not available",
    88: "Incompatible destination",
    102: "Recover on timer expiry",
    127: "Interworking, unspecified",
}


def cause_text(cause: int) -> str:
    """The Cause-txt Asterisk prints for a Q.850 cause."""
    return CAUSE_TEXT.get(cause, "Unknown")


def _chan(event: str, privilege: str, ch: Channel, extra: str = "") -> str:
    return f"Event: {event}\r\nPrivilege: {privilege}\r\n{ch.block}{extra}\r\n"


@event_class(CALL)
def newchannel(ch: Channel) -> str:
    """Newchannel."""
    return _chan("Newchannel", "call,all", ch)


@event_class(CALL)
def newstate(ch: Channel) -> str:
    """Newstate (after the state has been set on the channel)."""
    return _chan("Newstate", "call,all", ch)


@event_class(DIALPLAN)
def newexten(ch: Channel) -> str:
    """Newexten for the channel's current context/exten/priority/app."""
    extra = f"Extension: {ch.exten}\r\nApplication: {ch.app}\r\nAppData: {ch.appdata}\r\n"
    return _chan("Newexten", "dialplan,all", ch, extra)


@event_class(DIALPLAN)
def varset(ch: Channel, name: str, value: str, block: str | None = None) -> str:
    """VarSet; `block` lets a Local ;2 show the values it had before the copy (file 03)."""
    head = ch.block if block is None else block
    return f"Event: VarSet\r\nPrivilege: dialplan,all\r\n{head}Variable: {name}\r\nValue: {value}\r\n\r\n"


@event_class(DIALPLAN)
def global_varset(name: str, value: str) -> str:
    """VarSet of a dialplan global at boot (file 20): `Channel: none`."""
    return (
        f"Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: none\r\nUniqueid: none\r\n"
        f"Variable: {name}\r\nValue: {value}\r\n\r\n"
    )


@event_class(CALL)
def newcallerid(ch: Channel) -> str:
    """NewCallerid."""
    return _chan("NewCallerid", "call,all", ch, "CID-CallingPres: 0 (Presentation Allowed, Not Screened)\r\n")


@event_class(CALL)
def newconnectedline(ch: Channel) -> str:
    """NewConnectedLine."""
    return _chan("NewConnectedLine", "call,all", ch)


@event_class(CALL)
def local_bridge(one: Channel, two: Channel, context: str, exten: str) -> str:
    """LocalBridge between the two halves of a Local channel."""
    return (
        f"Event: LocalBridge\r\nPrivilege: call,all\r\n{one.prefixed('LocalOne')}{two.prefixed('LocalTwo')}"
        f"Context: {context}\r\nExten: {exten}\r\nLocalOptimization: Yes\r\n\r\n"
    )


@event_class(CALL)
def dial_begin(dest: Channel, dialstring: str) -> str:
    """DialBegin of an originated channel: only Dest* headers (no caller channel)."""
    return (
        f"Event: DialBegin\r\nPrivilege: call,all\r\n{dest.prefixed('Dest')}DialString: {dialstring}\r\n\r\n"
    )


@event_class(CALL)
def dial_state(dest: Channel, status: str) -> str:
    """DialState (RINGING, ...)."""
    return f"Event: DialState\r\nPrivilege: call,all\r\n{dest.prefixed('Dest')}DialStatus: {status}\r\n\r\n"


@event_class(CALL)
def dial_end(dest: Channel, status: str) -> str:
    """DialEnd (ANSWER, BUSY, CONGESTION, NOANSWER, CANCEL)."""
    return f"Event: DialEnd\r\nPrivilege: call,all\r\n{dest.prefixed('Dest')}DialStatus: {status}\r\n\r\n"


@event_class(CALL)
def device_state(device: str, state: str) -> str:
    """DeviceStateChange."""
    return f"Event: DeviceStateChange\r\nPrivilege: call,all\r\nDevice: {device}\r\nState: {state}\r\n\r\n"


@event_class(CALL)
def hangup_request(ch: Channel, cause: int) -> str:
    """HangupRequest: Cause is Q.850."""
    return _chan("HangupRequest", "call,all", ch, f"Cause: {cause}\r\n")


@event_class(CALL)
def soft_hangup_request(ch: Channel, flag: int) -> str:
    """SoftHangupRequest: Cause is Asterisk's soft-hangup flag (16 dialplan end, 4 shutdown)."""
    return _chan("SoftHangupRequest", "call,all", ch, f"Cause: {flag}\r\n")


@event_class(CALL)
def hangup(ch: Channel, cause: int) -> str:
    """Hangup with the Q.850 cause and its text."""
    return _chan("Hangup", "call,all", ch, f"Cause: {cause}\r\nCause-txt: {cause_text(cause)}\r\n")


@event_class(CALL)
def mixmonitor_start(ch: Channel) -> str:
    """MixMonitorStart."""
    return _chan("MixMonitorStart", "call,all", ch)


@event_class(CALL)
def mixmonitor_stop(ch: Channel) -> str:
    """MixMonitorStop (only after StopMixMonitor, never at hangup)."""
    return _chan("MixMonitorStop", "call,all", ch)


@event_class(USER)
def user_event(ch: Channel, name: str, fields: tuple[tuple[str, str], ...]) -> str:
    """UserEvent: `UserEvent: <name>` then the user's headers in the order given."""
    extra = f"UserEvent: {name}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields)
    return _chan("UserEvent", "user,all", ch, extra)


@event_class(DTMF)
def dtmf_begin(ch: Channel, digit: str) -> str:
    """DTMFBegin (received on the dialer leg)."""
    return _chan("DTMFBegin", "dtmf,all", ch, f"Digit: {digit}\r\nDirection: Received\r\n")


@event_class(DTMF)
def dtmf_end(ch: Channel, digit: str, duration_ms: int) -> str:
    """DTMFEnd."""
    extra = f"Digit: {digit}\r\nDurationMs: {duration_ms}\r\nDirection: Received\r\n"
    return _chan("DTMFEnd", "dtmf,all", ch, extra)


def _cdr_time(wall: float | None) -> str:
    return "" if wall is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall))


@event_class(CDR)
def cdr(
    ch: Channel,
    disposition: str,
    start_wall: float,
    answer_wall: float | None,
    end_wall: float,
) -> str:
    """Cdr of one channel (cdr_manager), timestamps in local time."""
    cid = f'"{ch.cid_name if ch.cid_name != "<unknown>" else ""}" <{ch.cid_num}>'
    source = "" if ch.cid_num == "<unknown>" else ch.cid_num
    billable = 0 if answer_wall is None else int(end_wall - answer_wall)
    return (
        "Event: Cdr\r\nPrivilege: cdr,all\r\nAccountCode: \r\n"
        f"Source: {source}\r\nDestination: {ch.exten}\r\nDestinationContext: {ch.context}\r\n"
        f"CallerID: {cid}\r\nChannel: {ch.name}\r\nDestinationChannel: \r\n"
        f"LastApplication: {ch.app}\r\nLastData: {ch.appdata}\r\n"
        f"StartTime: {_cdr_time(start_wall)}\r\nAnswerTime: {_cdr_time(answer_wall)}\r\n"
        f"EndTime: {_cdr_time(end_wall)}\r\nDuration: {int(end_wall - start_wall)}\r\n"
        f"BillableSeconds: {billable}\r\nDisposition: {disposition}\r\nAMAFlags: DOCUMENTATION\r\n"
        f"UniqueID: {ch.uniqueid}\r\nUserField: \r\n\r\n"
    )


@event_class(CALL)
def originate_response(
    action_id: str,
    success: bool,
    channel: str,
    context: str,
    exten: str,
    reason: int,
    uniqueid: str,
    cid_num: str,
    cid_name: str,
    chanvars: tuple[tuple[str, str], ...] = (),
) -> str:
    """OriginateResponse; on success one `ChanVariable(<channel>): NAME=value` line per channelvar."""
    aid = f"ActionID: {action_id}\r\n" if action_id else ""
    cv = "".join(f"ChanVariable({channel}): {n}={v}\r\n" for n, v in chanvars) if success else ""
    return (
        f"Event: OriginateResponse\r\nPrivilege: call,all\r\n{aid}"
        f"Response: {'Success' if success else 'Failure'}\r\nChannel: {channel}\r\n"
        f"Context: {context}\r\nExten: {exten}\r\nReason: {reason}\r\nUniqueid: {uniqueid}\r\n"
        f"CallerIDNum: {cid_num}\r\nCallerIDName: {cid_name}\r\n{cv}\r\n"
    )


@event_class(SYSTEM)
def fully_booted(uptime_s: int, booting: bool = False) -> str:
    """FullyBooted; during a boot the header order is Status, Uptime, LastReload (file 20)."""
    if booting:
        body = f"Status: Fully Booted\r\nUptime: {uptime_s}\r\nLastReload: {uptime_s}\r\n"
    else:
        body = f"Uptime: {uptime_s}\r\nLastReload: {uptime_s}\r\nStatus: Fully Booted\r\n"
    return f"Event: FullyBooted\r\nPrivilege: system,all\r\n{body}\r\n"


@event_class(SYSTEM)
def shutdown() -> str:
    """Shutdown (core stop now)."""
    return "Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\nRestart: False\r\n\r\n"


def event_tv(wall: float | None) -> str:
    """EventTV / SessionTV text: `2026-11-28T12:34:45.380+0000` (1970 when unknown)."""
    if wall is None:
        return "1970-01-01T00:00:00.000+0000"
    ms = int((wall % 1) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + f".{ms:03d}+0000"


@event_class(SECURITY)
def security(event: str, severity: str, version: int, fields: tuple[tuple[str, str], ...]) -> str:
    """A security-class event (SuccessfulAuth, InvalidPassword, ...)."""
    head = (
        f"Event: {event}\r\nPrivilege: security,all\r\nEventTV: {event_tv(time.time())}\r\n"
        f"Severity: {severity}\r\nService: AMI\r\nEventVersion: {version}\r\n"
    )
    return head + "".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n"
