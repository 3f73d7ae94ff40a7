"""Texts as a medium: an allowed lead's message is rendered from its contact, its body row written
with its attempt row, and the action (MessageSend or DongleSendSMS) sent after the commit;
Asterisk's answer maps to `accepted`, `failed` (a refusal we know) or `unknown` (maybe sent)."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from dialer.ami.answers import Answer, judge_future
from dialer.ami.errors import AmiDisconnected
from dialer.ami.frames import Message
from dialer.config.models import CampaignConfig, Config
from dialer.events import CallEvent
from dialer.numbers import mask, number_hash
from dialer.outcome import Disposition
from dialer.pipeline.call_medium import OriginatePort
from dialer.pipeline.medium import SMS_GATE, GateProfile, Unsendable
from dialer.sms.actions import BodyError, outcome_detail, send_fields, send_refused
from dialer.sms.template import MissingPlaceholder, parse_template, template_values
from dialer.store import Tx
from dialer.store import calls as store
from dialer.store import contacts as contact_store
from dialer.store.calls import DueLead, NewAttempt
from dialer.tracker import CallState

log = structlog.get_logger("dialer.sms")


@dataclass(frozen=True, slots=True)
class MessagePayload:
    """An allowed lead's message: its body and the action's headers."""

    body: str
    fields: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message whose attempt row exists (its call id is the action's ActionID)."""

    attempt: NewAttempt
    attempt_id: int
    campaign: str
    created_at: float
    payload: MessagePayload

    @property
    def message_id(self) -> str:
        """The attempt's call id."""
        return self.attempt.call_id


class SmsHost(Protocol):
    """What the SMS medium needs of the sender that runs it."""

    @property
    def config(self) -> Config:
        """The config in force."""
        ...

    @property
    def port(self) -> OriginatePort | None:
        """The AMI client, when there is one."""
        ...

    def in_flight(self, message: OutgoingMessage) -> None:
        """The message is about to be sent: wait for its answer."""
        ...

    def answered(self, message_id: str, disposition: Disposition, detail: str) -> None:
        """The message's outcome."""
        ...


def message_event(message_id: str, attempt_id: int, lead_id: int, campaign: str, number: str, state: CallState,
                  at: float, created_at: float, disposition: Disposition | None = None, detail: str = "") -> CallEvent:
    """A message's change as the tx and event hooks see it (a CallEvent of medium `sms`)."""
    return CallEvent(call_id=message_id, attempt_id=attempt_id, lead_id=lead_id, campaign=campaign, number=number,
                     state=state, at=at, originated_at=created_at, disposition=disposition, detail=detail,
                     medium="sms")


class SmsMedium:
    """The text half of the attempt pipeline."""

    def __init__(self, host: SmsHost) -> None:
        self._host = host

    @property
    def gate(self) -> GateProfile:
        """Texts: the SMS caps, no caller-ID or abandon-rate rule."""
        return SMS_GATE

    async def prepare(self, tx: Tx, campaign: str, config: CampaignConfig,
                      leads: Sequence[DueLead]) -> list[MessagePayload | Unsendable]:
        """Render each lead's message from its contact; a missing placeholder value or a body the
        gateway cannot carry makes the lead unsendable (it ends `invalid`)."""
        assert config.sms is not None
        gateway = self._host.config.sms.gateways[config.sms.gateway]
        template = parse_template(config.sms.template)
        contacts = await contact_store.template_fields(tx, [lead.number for lead in leads])
        payloads: list[MessagePayload | Unsendable] = []
        for lead in leads:
            name, attributes = contacts.get(lead.number, (None, {}))
            try:
                body = template.render(template_values(name, attributes, campaign))
            except MissingPlaceholder as exc:
                payloads.append(Unsendable(lead, "sms.template", f"no value for {{{', '.join(exc.names)}}}"))
                continue
            try:
                payloads.append(MessagePayload(body, send_fields(gateway, lead.number, body)))
            except (BodyError, ValueError) as exc:
                payloads.append(Unsendable(lead, "sms.body", str(exc)))
        return payloads

    def began(self, campaign: str, config: CampaignConfig, lead: DueLead, attempt: NewAttempt, attempt_id: int,
              payload: MessagePayload, now: float) -> OutgoingMessage:
        """The message, once its attempt row has an id."""
        return OutgoingMessage(attempt, attempt_id, campaign, now, payload)

    def event(self, outgoing: OutgoingMessage) -> CallEvent:
        """The message's `originating` event."""
        a = outgoing.attempt
        return message_event(a.call_id, outgoing.attempt_id, a.gate.lead_id, outgoing.campaign, a.number,
                             CallState.ORIGINATING, outgoing.created_at, outgoing.created_at)

    async def record(self, tx: Tx, campaign: str, outgoing: Sequence[OutgoingMessage],
                     unsendable: Sequence[Unsendable], key: bytes, now: float) -> None:
        """The message bodies, and the unsendable leads ended `invalid` with their audit rows."""
        if outgoing or unsendable:
            await tx.run(_write_outgoing, outgoing, unsendable, campaign, key, now)

    def send(self, campaign: str, config: CampaignConfig, outgoing: OutgoingMessage) -> None:
        """Send the message's action; its answer arrives in `_answered`."""
        host = self._host
        message_id = outgoing.message_id
        fields = outgoing.payload.fields
        host.in_flight(outgoing)
        log.info("sms_sending", call_id=message_id, campaign=campaign, lead=outgoing.attempt.gate.lead_id,
                 number=mask(outgoing.attempt.number), action=fields[0][1])
        port = host.port
        try:
            if port is None:
                raise AmiDisconnected("no AMI client")
            future = port.send_nowait(fields, message_id)
        except AmiDisconnected:
            host.answered(message_id, Disposition.FAILED, "not sent: AMI disconnected")
            return
        future.add_done_callback(functools.partial(self._answered, message_id))

    def _answered(self, message_id: str, future: asyncio.Future[Message]) -> None:
        verdict = judge_future(future, send_refused)
        if verdict.answer is Answer.UNCONFIRMED:
            # Unreadable, unknown, lost with the connection, timed out: Asterisk may have sent it.
            self._host.answered(message_id, Disposition.UNKNOWN, f"maybe sent: {verdict.detail}")
            return
        detail = outcome_detail(future.result())
        self._host.answered(message_id, Disposition.ACCEPTED if verdict.answer is Answer.DONE else Disposition.FAILED,
                            detail)


def _write_outgoing(conn: sqlite3.Connection, sent: Sequence[OutgoingMessage], unsendable: Sequence[Unsendable],
                    campaign: str, key: bytes, now: float) -> None:
    conn.executemany(
        "INSERT INTO sms_messages (direction, call_id, campaign_id, number, body, created_at) "
        "VALUES ('out', ?, ?, ?, ?, ?)",
        [(m.message_id, campaign, m.attempt.number, m.payload.body, now) for m in sent])
    store.block_unsendable(conn, campaign, [
        store.UnsendableLead(item.lead.lead_id, number_hash(item.lead.number, key), mask(item.lead.number), item.rule,
                             item.detail) for item in unsendable], now)
