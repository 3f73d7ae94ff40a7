"""What differs per medium: the facts and policy the gate judges it with, and how it is sent.

The gate half (`GateProfile`) is pure config and used without a running daemon too (`dialer check`,
`dialer scrub`); the sending half (`Medium`) is implemented by `CallMedium` and `SmsMedium`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from dialer.compliance import Channel, CompliancePolicy
from dialer.config.models import CampaignConfig, Config
from dialer.events import CallEvent
from dialer.store import Tx
from dialer.store.calls import DueLead, NewAttempt


@dataclass(frozen=True, slots=True)
class GateProfile:
    """The gate facts of one medium: which attempts count for its caps, its channel, its policy."""

    kind: str  # the attempts' `medium` column: whose history counts against the caps
    channel: Channel

    def policy(self, config: Config, campaign: str | None) -> CompliancePolicy:
        """The policy the gate applies to `campaign` on this medium."""
        if self.channel is Channel.SMS and campaign is not None:
            return sms_policy(config, campaign)
        return config.compliance_for(campaign)

    def caller_id(self, campaign: CampaignConfig | None) -> str | None:
        """The presented caller ID the gate checks: calls only (a text has a sender, not a caller ID)."""
        if campaign is None or self.channel is not Channel.CALL:
            return None
        return campaign.caller_id

    @property
    def counts_abandon(self) -> bool:
        """Whether the campaign's abandon rate applies (calls only: a text cannot be abandoned)."""
        return self.channel is Channel.CALL


CALL_GATE = GateProfile("call", Channel.CALL)
SMS_GATE = GateProfile("sms", Channel.SMS)


def gate_profile(campaign: CampaignConfig | None) -> GateProfile:
    """The gate profile of a campaign's medium (calls when there is no campaign)."""
    return SMS_GATE if campaign is not None and campaign.kind == "sms" else CALL_GATE


def sms_policy(config: Config, campaign: str) -> CompliancePolicy:
    """The campaign's policy with the SMS frequency caps: messages are capped apart from calls, and
    never more loosely than the campaign's own limits (the gate's floor keeps the global ones)."""
    base = config.compliance_for(campaign)
    caps = config.sms
    return base.model_copy(update={
        "max_attempts_per_24h": min(base.max_attempts_per_24h, caps.max_per_24h),
        "max_attempts_per_7d": min(base.max_attempts_per_7d, caps.max_per_7d),
        "min_attempt_gap_s": max(base.min_attempt_gap_s, caps.min_gap_s),
    })


@dataclass(frozen=True, slots=True)
class Unsendable:
    """An allowed lead whose attempt cannot be made (e.g. a template placeholder without a value):
    the rule and detail of its block (names only, never values)."""

    lead: DueLead
    rule: str
    detail: str


P = TypeVar("P")  # what a medium prepares for one allowed lead before its attempt row exists
OutT = TypeVar("OutT")  # one outgoing attempt, once its row exists


class Medium(Protocol[P, OutT]):
    """What a medium provides to the attempt pipeline (everything else is shared)."""

    @property
    def gate(self) -> GateProfile:
        """Its gate facts and policy."""
        ...

    async def prepare(self, tx: Tx, campaign: str, config: CampaignConfig,
                      leads: Sequence[DueLead]) -> list[P | Unsendable]:
        """For each allowed lead, in order: what will be sent, or why it cannot be."""
        ...

    def began(self, campaign: str, config: CampaignConfig, lead: DueLead, attempt: NewAttempt, attempt_id: int,
              payload: P, now: float) -> OutT:
        """The outgoing attempt, once its row has an id (still inside the transaction)."""
        ...

    def event(self, outgoing: OutT) -> CallEvent:
        """The `originating` event of an outgoing attempt (for the tx and event hooks)."""
        ...

    async def record(self, tx: Tx, campaign: str, outgoing: Sequence[OutT], unsendable: Sequence[Unsendable],
                     key: bytes, now: float) -> None:
        """Write the medium's own rows inside the attempt transaction (message bodies, unsendable leads)."""
        ...

    def send(self, campaign: str, config: CampaignConfig, outgoing: OutT) -> None:
        """Send one attempt; called only after its row is committed."""
        ...
