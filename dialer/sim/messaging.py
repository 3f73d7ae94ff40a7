"""Out-of-call text messages: the MessageSend and DongleSendSMS actions, and inbound messages.

Answers follow the sources, not a recording (no transcript has messaging in it):
- MessageSend (main/message.c `action_messagesend`, write class `message`): `Destination` wins over
  `To`; neither gives `No 'To' address specified.`; the technology is the text before the first
  `:` and an unknown one gives `Message technology not found.`; `Base64Body` wins over `Body` and is
  decoded into at most 1300 bytes; the technology's send failing gives `Message failed to send.`,
  otherwise `Message successfully sent`. For `pjsip` (res/res_pjsip_messaging.c) the send waits for
  the SIP stack: an endpoint that does not exist, with no default outbound endpoint, fails; a
  request the stack cannot send fails (here: a callee whose plan is a channel failure); the far
  end's answer to the SIP MESSAGE is never reported to AMI, so a 404 from the carrier still reads
  as sent.
- DongleSendSMS (chan_dongle manager.c, write class `call`): `Device not specified`, `Number not
  specified`, `Message not specified`; else `[<device>] <text>` followed by an `ID:` line, where
  the text is `SMS queued for send`, `no such device` or `Invalid destination number`.
- An inbound message runs the dialplan on the `Message/ast_msg_queue` channel; the shipped
  `[dialer-messages]` context reports it as `UserEvent(DialerInboundMessage,From64: ..,Body64: ..)`
  (base64, so commas and line breaks in a body cannot split the event). `inject_inbound` sends
  exactly that event.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import time
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from dialer.sim import events as ev
from dialer.sim.callees import Outcome
from dialer.sim.channels import UP, Channel
from dialer.sim.damage import next_fault, send_damaged
from dialer.sim.protocol import Action, response

if TYPE_CHECKING:
    from dialer.sim.server import SimServer
    from dialer.sim.session import AmiSession

BASE64_BODY_MAX = 1300  # main/message.c decodes Base64Body into a 1301-byte buffer
MESSAGE_CHANNEL = "Message/ast_msg_queue"
INBOUND_CONTEXT = "dialer-messages"
_PHONE_CHARS = frozenset("0123456789+*#")
_ids = itertools.count(0x55D0_0000_1000, 0x40)


@dataclass(frozen=True)
class MessageRecord:
    """One MessageSend or DongleSendSMS received, and the answer given."""

    time: float
    action: str
    action_id: str
    to: str
    sender: str
    body: str
    response: str
    message: str
    kind: str = "message"
    fault: str | None = None  # how the answer was damaged on its way (Faults.message_responses)

    def to_json(self) -> dict[str, Any]:
        """The log line as a dict (`fault` only when there was one)."""
        data = asdict(self)
        if data["fault"] is None:
            del data["fault"]
        return data


def _answer(session: AmiSession, action: Action, record: MessageRecord, *extra: tuple[str, str]) -> None:
    aid = action.get("ActionID")
    good = response(record.response, aid, ("Message", record.message), *extra)
    fault = next_fault(session.server.faults.message_responses, session)
    if fault is None:
        session.send(good)
    else:
        send_damaged(session, fault, good, aid)
        record = replace(record, fault=fault.value)
    session.server.record_message(record)


def _body(action: Action) -> str:
    encoded = action.get("Base64Body")
    if encoded:
        try:
            raw = base64.b64decode(encoded, validate=False)[:BASE64_BODY_MAX]
        except (binascii.Error, ValueError):
            raw = b""
        return raw.decode("utf-8", "replace")
    return action.get("Body")


def _pjsip_endpoint(destination: str) -> str:
    """The endpoint name res_pjsip_messaging tries first: after `sip:`, up to `/` or `@`."""
    rest = destination.split(":", 1)[1] if ":" in destination else destination
    if rest.startswith(("sip:", "sips:")):
        rest = rest.split(":", 1)[1]
    for sep in ("/", "@"):
        if sep in rest:
            return rest.split(sep, 1)[0]
    return rest


def _number_in(destination: str) -> str:
    """The digits the destination addresses (the user part of its last URI), for the callee plan."""
    tail = destination.rsplit("/", 1)[-1]
    tail = tail.split(":", 1)[1] if tail.startswith(("sip:", "sips:", "pjsip:")) else tail
    user = tail.split("@", 1)[0].lstrip("+")
    return user if user.isdigit() else ""


def message_send(session: AmiSession, action: Action) -> None:
    """MessageSend: the checks and answers of main/message.c and res_pjsip_messaging."""
    server = session.server
    destination = action.get("Destination") or action.get("To")
    sender = action.get("From")

    def record(status: str, text: str) -> MessageRecord:
        return MessageRecord(time.time(), "MessageSend", action.get("ActionID"), destination, sender,
                             _body(action), status, text)

    if not destination:
        _answer(session, action, record("Error", "No 'To' address specified."))
        return
    tech = destination.split(":", 1)[0]
    if tech not in server.config.message_techs:
        _answer(session, action, record("Error", "Message technology not found."))
        return
    endpoint = _pjsip_endpoint(destination)
    if endpoint not in server.config.message_endpoints and server.config.default_outbound_endpoint is None:
        _answer(session, action, record("Error", "Message failed to send."))
        return
    digits = _number_in(destination)
    if digits and server.pbx.profile.decide(digits, server.pbx.callee_rng).outcome is Outcome.CHANNEL_FAILURE:
        _answer(session, action, record("Error", "Message failed to send."))
        return
    _answer(session, action, record("Success", "Message successfully sent"))


def dongle_send_sms(session: AmiSession, action: Action) -> None:
    """DongleSendSMS: chan_dongle's manager_send_sms and send_sms."""
    device, number, text = action.get("Device"), action.get("Number"), action.get("Message")

    def record(status: str, message: str) -> MessageRecord:
        return MessageRecord(time.time(), "DongleSendSMS", action.get("ActionID"), number, device, text,
                             status, message)

    for name, value in (("Device", device), ("Number", number), ("Message", text)):
        if not value:
            _answer(session, action, record("Error", f"{name} not specified"))
            return
    if device not in session.server.config.dongles:
        _answer(session, action, record("Error", f"[{device}] no such device"), ("ID", "(nil)"))
        return
    core = number[1:] if number.startswith("+") else number
    if not core or not set(core) <= _PHONE_CHARS:
        _answer(session, action, record("Error", f"[{device}] Invalid destination number"), ("ID", "(nil)"))
        return
    _answer(session, action, record("Success", f"[{device}] SMS queued for send"), ("ID", hex(next(_ids))))


def inject_inbound(server: SimServer, sender: str, body: str, to: str = "dialer") -> None:
    """An inbound text arriving in the `[dialer-messages]` context: the UserEvent the snippet sends.

    `sender` is what ${MESSAGE(from)} holds, e.g. `"Ann" <sip:+14155550123@carrier>`.
    """
    pbx = server.pbx
    uid = pbx.counters.uniqueid()
    channel = Channel(MESSAGE_CHANNEL, uid, uid, UP, INBOUND_CONTEXT, to, pbx.chanvars, "Message", pbx.loop.time())
    channel.set(priority=2, app="UserEvent", appdata="DialerInboundMessage")
    fields = (
        ("From64", base64.b64encode(sender.encode("utf-8")).decode("ascii")),
        ("Body64", base64.b64encode(body.encode("utf-8")).decode("ascii")),
    )
    server.broadcast([ev.build(ev.user_event, channel, "DialerInboundMessage", fields)])
