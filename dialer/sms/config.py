"""The `[sms]` config section and a campaign's `sms` table: gateways, templates, SMS frequency caps."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dialer.numbers import DialFormat
from dialer.sms.template import TemplateError, parse_template

# A MessageSend destination: `tech:` then URI characters; {number} (digits only) goes in once.
_DESTINATION = re.compile(r"[a-z0-9]+:[A-Za-z0-9_@./:+<>\"=;-]*")
_DEVICE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SENDER = re.compile(r"[^\r\n,]{0,200}")
DEFAULT_STOP_WORDS = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmsGateway(_Strict):
    """How a message leaves Asterisk: MessageSend (PJSIP messaging) or a GSM gateway's action."""

    action: Literal["MessageSend", "DongleSendSMS"] = "MessageSend"
    # MessageSend: the destination, e.g. `pjsip:carrier/sip:{number}@sip.carrier.example`, and From.
    to: str = "pjsip:carrier/sip:{number}@sip.carrier.example"
    sender: str = Field(default="", description="MessageSend From, e.g. sip:+14155550100@pbx.example")
    number_format: DialFormat = DialFormat.E164
    # DongleSendSMS (chan_dongle): the dongle that sends.
    device: str = "dongle0"

    @field_validator("to")
    @classmethod
    def _one_number(cls, value: str) -> str:
        if value.count("{number}") != 1:
            raise ValueError("must contain {number} exactly once")
        if not _DESTINATION.fullmatch(value.replace("{number}", "0")):
            raise ValueError("must look like tech:destination (e.g. pjsip:carrier/sip:{number}@host), "
                             "no spaces, commas or line breaks")
        return value

    @field_validator("sender")
    @classmethod
    def _safe_sender(cls, value: str) -> str:
        if not _SENDER.fullmatch(value):
            raise ValueError("must be one line without commas")
        return value

    @field_validator("device")
    @classmethod
    def _device_name(cls, value: str) -> str:
        if not _DEVICE.fullmatch(value):
            raise ValueError("must be letters, digits, '.', '_' or '-'")
        return value


class SmsConfig(_Strict):
    """Messages for every SMS campaign: gateways, caps, pace and the opt-out words of replies."""

    gateways: dict[str, SmsGateway] = Field(default_factory=dict)
    # Frequency caps of messages per number, across campaigns, counted apart from calls. The gate
    # applies them within the [compliance] limits (it never loosens a global limit).
    max_per_24h: int = Field(default=1, ge=0)
    max_per_7d: int = Field(default=3, ge=0)
    min_gap_s: int = Field(default=3600, ge=0)
    messages_per_s: float = Field(default=5.0, gt=0, description="sends per second over all SMS campaigns")
    max_in_flight: int = Field(default=20, ge=1, description="actions awaiting Asterisk's answer at once")
    stop_words: tuple[str, ...] = DEFAULT_STOP_WORDS
    inbound_region: str = Field(default="US", pattern=r"[A-Z]{2}", description="region of national-form senders")

    @field_validator("stop_words")
    @classmethod
    def _upper(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        words = tuple(sorted({w.strip().upper() for w in value if w.strip()}))
        if not words:
            raise ValueError("at least one word is needed (a STOP reply must always work)")
        return words


class SmsCampaign(_Strict):
    """A campaign of kind `sms`: which gateway, and the message with {placeholders}."""

    gateway: str
    template: str = Field(min_length=1)

    @field_validator("template")
    @classmethod
    def _template_parses(cls, value: str) -> str:
        try:
            parse_template(value)
        except TemplateError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _gateway_named(self) -> SmsCampaign:
        if not _DEVICE.fullmatch(self.gateway):
            raise ValueError("gateway: must name an [sms.gateways.NAME] table")
        return self
