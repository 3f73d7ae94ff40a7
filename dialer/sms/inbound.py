"""Replies: an inbound text reported by the dialplan (UserEvent DialerInboundMessage) is recorded,
and a STOP word puts its sender on the opt-out list for every campaign, calls included.

The shipped `[dialer-messages]` context (config/asterisk) sends the sender and the body base64
encoded (`From64`, `Body64`), so that commas or line breaks in a text cannot split the event. The
opt-out is committed at once; a running daemon's gate applies it before it claims its next leads.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from dataclasses import dataclass

import structlog

from dialer.ami.frames import Message
from dialer.clock import Clock
from dialer.config.models import Config
from dialer.numbers import NumberError, mask, normalise
from dialer.store import Database
from dialer.store import compliance as compliance_store
from dialer.tasks import background

log = structlog.get_logger("dialer.sms")

EVENT = "DialerInboundMessage"
_SIP_USER = re.compile(r"sips?:([^@;>\s]+)", re.IGNORECASE)
_WORDS = re.compile(r"[A-Z]+")


@dataclass(frozen=True, slots=True)
class Inbound:
    """A text received: its sender (E.164) and body, and the STOP word it matched, if any."""

    number: str
    body: str
    keyword: str | None


def _decode(value: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


def sender_number(sender: str, region: str) -> str | None:
    """The E.164 number of a message's sender: the user part of a SIP URI (`"Ann" <sip:+1...@host>`)
    or a bare number (chan_dongle); None if it is not a valid number."""
    match = _SIP_USER.search(sender)
    raw = match.group(1) if match else sender.strip().strip("<>")
    try:
        return normalise(raw, region).e164
    except NumberError:
        return None


def stop_word(body: str, words: tuple[str, ...]) -> str | None:
    """The opt-out word a reply is: the whole text or its first word (any case, punctuation ignored)."""
    found = _WORDS.findall(body.upper())
    if not found:
        return None
    if " ".join(found) in words:
        return " ".join(found)
    return found[0] if found[0] in words else None


def parse(message: Message, config: Config) -> Inbound | None:
    """An inbound message from the UserEvent, or None if it is not one or names no valid sender."""
    if message.get("UserEvent") != EVENT:
        return None
    sender = _decode(message.get("From64", ""))
    number = sender_number(sender, config.sms.inbound_region)
    if number is None:
        log.warning("sms_inbound_sender_unusable", sender=mask(sender) if sender else "")
        return None
    body = _decode(message.get("Body64", ""))
    return Inbound(number, body, stop_word(body, config.sms.stop_words))


class InboundHandler:
    """Records replies and applies STOP words (a tracker user-event hook; the writes are tasks)."""

    def __init__(self, config: Config, db: Database, clock: Clock) -> None:
        self.config = config
        self.db = db
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    def reload(self, config: Config) -> None:
        """A SIGHUP reload: the stop words and the inbound region apply to the next reply."""
        self.config = config

    def on_user_event(self, message: Message) -> None:
        """Tracker hook: every UserEvent passes here; only DialerInboundMessage is kept."""
        inbound = parse(message, self.config)
        if inbound is None:
            return
        task = background(self.record(inbound), "sms-inbound")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def record(self, inbound: Inbound) -> None:
        """Store the message; a STOP word adds an opt-out (every campaign) in the same transaction."""
        now = self.clock.now()
        try:
            key = await self.db.hash_key()
            async with self.db.write() as tx:
                row = await tx.fetchone(
                    "SELECT campaign_id FROM sms_messages WHERE number = ? AND direction = 'out' "
                    "ORDER BY created_at DESC LIMIT 1", (inbound.number,))
                campaign = row[0] if row else None
                message_id = await tx.execute(
                    "INSERT INTO sms_messages (direction, campaign_id, number, body, keyword, created_at) "
                    "VALUES ('in', ?, ?, ?, ?, ?)", (campaign, inbound.number, inbound.body, inbound.keyword, now))
                if inbound.keyword is not None:
                    entry = compliance_store.NewDncEntry(inbound.number, compliance_store.DncKind.OPTOUT, None,
                                                         f"sms-reply:{message_id}")
                    await compliance_store.add_dnc(tx, [entry], compliance_store.ChangeStamp("dialer", now, key))
        except Exception as exc:
            log.error("sms_inbound_not_stored", number=mask(inbound.number), keyword=inbound.keyword, error=str(exc))
            return
        log.info("sms_received", number=mask(inbound.number), campaign=campaign, opted_out=inbound.keyword is not None,
                 keyword=inbound.keyword)

    async def stop(self) -> None:
        """Wait for replies still being written."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
