"""Manager actions after login: Originate, Ping, Hangup, CoreShowChannels, Status, Getvar, ...

Each handler gets the session and the action and answers with the exact texts recorded from
Asterisk 22.10.1 (files 18, 21, 23). Required write classes follow manager.c's registrations.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from dialer.sim import events as ev
from dialer.sim.callflow import OriginateRequest
from dialer.sim.channels import Channel
from dialer.sim.config import CLASS_BITS, ResponseFault
from dialer.sim.damage import next_fault, send_damaged
from dialer.sim.dialplan import PRIORITIES
from dialer.sim.messaging import dongle_send_sms, message_send
from dialer.sim.oplog import OriginationRecord
from dialer.sim.protocol import Action, response

if TYPE_CHECKING:
    from dialer.sim.session import AmiSession

Handler = Callable[["AmiSession", Action], None]

_SYSTEM, _CALL, _REPORTING, _ORIGINATE, _MESSAGE = (
    CLASS_BITS["system"],
    CLASS_BITS["call"],
    CLASS_BITS["reporting"],
    CLASS_BITS["originate"],
    CLASS_BITS["message"],
)
_TRUE = {"yes", "true", "y", "t", "1", "on"}
_INT = re.compile(r"\s*([+-]?\d+)")
_CALLERID = re.compile(r'^\s*(?:"([^"]*)"|([^<"]*?))\s*<([^>]*)>\s*$')
DEFAULT_TIMEOUT_MS = 30000


def leading_int(text: str) -> int | None:
    """sscanf("%d"): the integer at the start of `text`, or None."""
    match = _INT.match(text)
    return int(match.group(1)) if match else None


def parse_callerid(text: str) -> tuple[str | None, str | None]:
    """`"Name" <number>` / `Name <number>` / `number` -> (number, name)."""
    match = _CALLERID.match(text)
    if match:
        name = match.group(1) if match.group(1) is not None else match.group(2)
        return (match.group(3).strip() or None, (name or "").strip() or None)
    stripped = text.strip()
    if not stripped:
        return None, None
    if stripped.lstrip("+").isdigit():
        return stripped, None
    return None, stripped


def parse_variables(values: list[str]) -> tuple[tuple[str, str], ...]:
    """`Variable:` headers, repeated and/or comma-separated `NAME=value` pairs."""
    pairs = []
    for value in values:
        for item in value.split(","):
            name, sep, val = item.partition("=")
            if sep and name.strip():
                pairs.append((name.strip(), val))
    return tuple(pairs)


def _duration(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


# -- Originate ------------------------------------------------------------------------------


def _originate_error(session: AmiSession, action: Action, text: str) -> None:
    session.send(response("Error", action.get("ActionID"), ("Message", text)))
    session.server.record_origination(_record(action, "Error", text))


def _record(action: Action, status: str, text: str, fault: ResponseFault | None = None) -> OriginationRecord:
    return OriginationRecord(
        fault=None if fault is None else fault.value,
        time=time.time(),
        action_id=action.get("ActionID"),
        channel=action.get("Channel"),
        variables=dict(parse_variables(action.get_all("Variable"))),
        channel_id=action.get("ChannelId"),
        async_=action.get("Async").strip().lower() in _TRUE,
        response=status,
        message=text,
    )


def originate(session: AmiSession, action: Action) -> None:
    """Validate like manager.c, answer at once (Async) or at answer/failure (sync)."""
    server = session.server
    aid = action.get("ActionID")
    channel = action.get("Channel")
    if not channel:
        _originate_error(session, action, "Channel not specified")
        return
    priority = 1
    if action.get("Priority"):
        parsed = leading_int(action.get("Priority"))
        if parsed is None or parsed < 1:
            _originate_error(session, action, "Invalid priority")
            return
        priority = parsed
    timeout_ms = DEFAULT_TIMEOUT_MS
    if action.get("Timeout"):
        parsed = leading_int(action.get("Timeout"))
        if parsed is None or parsed < 0:
            _originate_error(session, action, "Invalid timeout")
            return
        timeout_ms = parsed or DEFAULT_TIMEOUT_MS
    if "/" not in channel:
        _originate_error(session, action, "Invalid channel")
        return
    if action.get("Application"):
        _originate_error(session, action, "Originate with Application is not simulated")
        return
    context, exten = action.get("Context"), action.get("Exten")
    if context not in server.config.contexts or exten != "s" or priority > PRIORITIES:
        _originate_error(session, action, "Extension does not exist.")
        return
    cid_num, cid_name = parse_callerid(action.get("CallerID"))
    is_async = action.get("Async").strip().lower() in _TRUE
    req = OriginateRequest(
        action_id=aid,
        channel=channel,
        context=context,
        exten=exten,
        priority=priority,
        timeout_s=timeout_ms / 1000.0,
        cid_num=cid_num,
        cid_name=cid_name,
        variables=parse_variables(action.get_all("Variable")),
        channel_id=action.get("ChannelId"),
        other_channel_id=action.get("OtherChannelId"),
        is_async=is_async,
    )
    if is_async:
        text = "Originate successfully queued"
        fault = next_fault(server.faults.originate_responses, session)
        good = response("Success", aid, ("Message", text))
        if fault is None:
            session.send(good)
        else:
            send_damaged(session, fault, good, aid)
        server.record_origination(_record(action, "Success", text, fault))
        server.pbx.originate(req, None)
        return

    def done(ok: bool) -> None:
        # The session waited for this (file 23): answer, then release its queued actions.
        status, text = ("Success", "Originate successfully queued") if ok else ("Error", "Originate failed")
        server.record_origination(_record(action, status, text))
        session.send(response(status, aid, ("Message", text)))
        session.resume()

    session.busy = True
    server.pbx.originate(req, done)


# -- small actions --------------------------------------------------------------------------


def ping(session: AmiSession, action: Action) -> None:
    """Ping -> Pong with a Timestamp."""
    stamp = f"{time.time():.6f}"
    session.send(response("Success", action.get("ActionID"), ("Ping", "Pong"), ("Timestamp", stamp)))


def _find(session: AmiSession, action: Action) -> Channel | None:
    return session.server.pbx.find_channel(action.get("Channel"))


def hangup(session: AmiSession, action: Action) -> None:
    """Hangup a channel by name (or Uniqueid), with an optional Q.850 Cause."""
    aid = action.get("ActionID")
    if not action.get("Channel"):
        session.send(response("Error", aid, ("Message", "No channel specified")))
        return
    ch = _find(session, action)
    if ch is None or ch.call is None:
        session.send(response("Error", aid, ("Message", "No such channel")))
        return
    cause = 16
    if action.get("Cause"):
        parsed = leading_int(action.get("Cause"))
        if parsed is not None and 0 < parsed <= 127:
            cause = parsed
    session.send(response("Success", aid, ("Message", "Channel Hungup")))
    ch.call.hangup_action(ch, cause)


def core_show_channels(session: AmiSession, action: Action) -> None:
    """CoreShowChannels: one CoreShowChannel per channel, then CoreShowChannelsComplete."""
    aid = action.get("ActionID")
    aid_line = f"ActionID: {aid}\r\n" if aid else ""
    pbx = session.server.pbx
    now = pbx.loop.time()
    session.send(response("Success", aid, ("EventList", "start"), ("Message", "Channels will follow")))
    channels = list(reversed(pbx.channels.values()))
    padding = session.server.faults.channel_list_padding
    if padding > 0:
        real = [f"Event: CoreShowChannel\r\n{aid_line}{ch.block}Application: {ch.app}\r\nApplicationData: "
                f"{ch.appdata}\r\nDuration: {_duration(now - ch.created_at)}\r\nBridgeId: \r\n\r\n" for ch in channels]
        # As in Asterisk (main/manager.c, 18.0.0 and 22.10.1: session_do() runs one do_message() at a time
        # and action_coreshowchannels() writes every channel before it returns): the next action waits.
        session.busy = True
        task = asyncio.get_running_loop().create_task(_padded_list(session, aid_line, padding, real))
        _STREAMS.add(task)
        task.add_done_callback(_STREAMS.discard)
        return
    for ch in channels:
        session.send(
            f"Event: CoreShowChannel\r\n{aid_line}{ch.block}Application: {ch.app}\r\n"
            f"ApplicationData: {ch.appdata}\r\nDuration: {_duration(now - ch.created_at)}\r\n"
            "BridgeId: \r\n\r\n"
        )
    session.send(
        f"Event: CoreShowChannelsComplete\r\n{aid_line}EventList: Complete\r\n"
        f"ListItems: {len(channels)}\r\n\r\n"
    )


_STREAMS: set[asyncio.Task[None]] = set()
PADDING_HIGH_WATER = 1 << 20


async def _padded_list(session: AmiSession, aid_line: str, padding: int, real: list[str]) -> None:
    """Fault `channel_list_padding`: made-up channels first, then the real ones, then Complete; written
    as fast as the client reads (never more than ~1 MB buffered), however long the list."""
    try:
        for start in range(0, padding, 1000):
            if session.closed:
                return
            session.write_raw("".join(
                f"Event: CoreShowChannel\r\n{aid_line}Channel: Local/pad{i}@padding-{i:08x};1\r\nChannelState: 6\r\n"
                "ChannelStateDesc: Up\r\nCallerIDNum: \r\nCallerIDName: \r\nConnectedLineNum: \r\n"
                "ConnectedLineName: \r\nLanguage: en\r\nAccountCode: \r\nContext: padding\r\nExten: s\r\n"
                f"Priority: 1\r\nUniqueid: pad.{i}\r\nLinkedid: pad.{i}\r\nApplication: Wait\r\n"
                "ApplicationData: 3600\r\nDuration: 00:10:00\r\nBridgeId: \r\n\r\n"
                for i in range(start, min(padding, start + 1000))).encode())
            # Polls the transport's buffer rather than hooking the session's pause/resume_writing:
            # this fault stays one hunk of its own.
            while (session.transport is not None and not session.closed  # noqa: ASYNC110
                   and session.transport.get_write_buffer_size() > PADDING_HIGH_WATER):
                await asyncio.sleep(0.002)
        session.write_raw(("".join(real) + f"Event: CoreShowChannelsComplete\r\n{aid_line}EventList: Complete\r\n"
                           f"ListItems: {padding + len(real)}\r\n\r\n").encode())
    finally:
        session.resume()


def status(session: AmiSession, action: Action) -> None:
    """Status of one or all channels, with `Variables:` / `AllVariables:`."""
    aid = action.get("ActionID")
    pbx = session.server.pbx
    if action.get("Channel"):
        ch = _find(session, action)
        if ch is None:
            session.send(response("Error", aid, ("Message", "No such channel")))
            return
        channels = [ch]
    else:
        channels = list(reversed(pbx.channels.values()))
    names = [n.strip() for n in action.get("Variables").split(",") if n.strip()]
    all_vars = action.get("AllVariables").strip().lower() in _TRUE
    aid_line = f"ActionID: {aid}\r\n" if aid else ""
    now = pbx.loop.time()
    session.send(response("Success", aid, ("EventList", "start"), ("Message", "Channel status will follow")))
    for ch in channels:
        fmt = "slin" if ch.kind == "Local" else "ulaw"
        pairs = list(ch.vars.items()) if all_vars else [(n, ch.getvar(n)) for n in names]
        variables = "".join(f"Variable: {n}={v}\r\n" for n, v in pairs)
        session.send(
            f"Event: Status\r\nPrivilege: Call\r\n{ch.block}Type: {ch.kind}\r\nDNID: \r\n"
            f"EffectiveConnectedLineNum: {ch.conn_num}\r\nEffectiveConnectedLineName: {ch.conn_name}\r\n"
            f"TimeToHangup: 0\r\nBridgeID: \r\nApplication: {ch.app}\r\nData: {ch.appdata}\r\n"
            f"Nativeformats: ({fmt})\r\nReadformat: {fmt}\r\nReadtrans: \r\nWriteformat: {fmt}\r\n"
            f"Writetrans: \r\nCallgroup: 0\r\nPickupgroup: 0\r\nSeconds: {int(now - ch.created_at)}\r\n"
            f"{variables}{aid_line}\r\n"
        )
    n = len(channels)
    session.send(
        f"Event: StatusComplete\r\n{aid_line}EventList: Complete\r\nListItems: {n}\r\nItems: {n}\r\n\r\n"
    )


def getvar(session: AmiSession, action: Action) -> None:
    """Getvar of a channel variable, or of a global without Channel."""
    aid = action.get("ActionID")
    name = action.get("Variable")
    if not name:
        session.send(response("Error", aid, ("Message", "No variable specified")))
        return
    if action.get("Channel"):
        ch = _find(session, action)
        if ch is None:
            session.send(response("Error", aid, ("Message", "No such channel")))
            return
        value = ch.getvar(name)
    else:
        value = session.server.pbx.globals.get(name, "")
    session.send(response("Success", aid, ("Variable", name), ("Value", value)))


def setvar(session: AmiSession, action: Action) -> None:
    """Setvar on a channel (VarSet event) or a global."""
    aid = action.get("ActionID")
    name = action.get("Variable")
    if not name:
        session.send(response("Error", aid, ("Message", "No variable specified")))
        return
    value = action.get("Value")
    if action.get("Channel"):
        ch = _find(session, action)
        if ch is None:
            session.send(response("Error", aid, ("Message", "No such channel")))
            return
        session.send(response("Success", aid, ("Message", "Variable Set")))
        ch.setvar(name, value)
        session.server.broadcast([ev.build(ev.varset, ch, name, value)])
        return
    session.send(response("Success", aid, ("Message", "Variable Set")))


def stop_mixmonitor(session: AmiSession, action: Action) -> None:
    """StopMixMonitor: MixMonitorStop follows; the file is closed now (file 18)."""
    aid = action.get("ActionID")
    ch = _find(session, action) if action.get("Channel") else None
    if ch is None or ch.call is None:
        session.send(response("Error", aid, ("Message", "No such channel")))
        return
    call = ch.call
    if ch is not call.one or not call.recording_active:
        session.send(response("Error", aid, ("Message", "Could not stop MixMonitor")))
        return
    session.send(response("Success", aid))  # no Message line (file 18)
    call.stop_recording()


HANDLERS: dict[str, tuple[int, Handler]] = {
    "originate": (_ORIGINATE, originate),
    "ping": (0, ping),
    "hangup": (_SYSTEM | _CALL, hangup),
    "coreshowchannels": (_SYSTEM | _REPORTING, core_show_channels),
    "status": (_SYSTEM | _CALL | _REPORTING, status),
    "getvar": (_CALL | _REPORTING, getvar),
    "setvar": (_CALL, setvar),
    "stopmixmonitor": (_SYSTEM | _CALL, stop_mixmonitor),
    "messagesend": (_MESSAGE, message_send),
    "donglesendsms": (_CALL, dongle_send_sms),  # only where chan_dongle is loaded
}
