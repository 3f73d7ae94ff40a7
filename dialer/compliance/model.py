"""Plain data the gate takes and returns. No I/O: the pipeline gathers the facts, the gate decides.

Times are unix seconds (float) like the store keeps them, except `now`, which every rule receives
as a timezone-aware datetime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from dialer.compliance.policy import CompliancePolicy
from dialer.numbers import PhoneNumber


class Verdict(StrEnum):
    """A rule's or the gate's answer."""

    ALLOW = "allow"
    BLOCK = "block"


class Channel(StrEnum):
    """How the number is contacted; some rules (abandon rate, caller ID) concern calls only."""

    CALL = "call"
    SMS = "sms"


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One rule's answer. `retry_at` (unix s) marks a temporary block: the lead may try again then.

    `campaign_wide` marks a block that concerns the campaign rather than this number (abandon rate,
    caller ID, stale registry): the scheduler may pause the campaign instead of rescheduling leads.
    """

    rule: str
    verdict: Verdict
    detail: str
    retry_at: float | None = None
    campaign_wide: bool = False

    @property
    def blocked(self) -> bool:
        """True when this rule blocks the call."""
        return self.verdict is Verdict.BLOCK


@dataclass(frozen=True, slots=True)
class NumberHistory:
    """What the store knows about earlier calls to one number, across all campaigns."""

    attempt_times: tuple[float, ...] = ()  # start times (unix s) of attempts in the last 7 days
    last_abandoned_at: float | None = None
    # For presets that cap calls per debt (Regulation F): the lead's `debt_id` attribute and the
    # start times of the last 7 days' attempts about that debt (to any of the debtor's numbers).
    debt_id: str | None = None
    debt_attempt_times: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """One consent the person gave: where it came from, when, for what, until when, and if revoked."""

    source: str  # e.g. "web-form:2024-spring", "call-recording:…"; free text, never a phone number
    granted_at: float
    scope: str | None = None  # a campaign name, or None for every campaign
    expires_at: float | None = None
    revoked_at: float | None = None
    channel: Channel | None = None  # None = calls and SMS


@dataclass(frozen=True, slots=True)
class AbandonStats:
    """A campaign's abandoned and live-answered call counts over the last 24 h and 30 days.

    `live_*` counts every call a person answered, abandoned ones included (the denominator of the
    TSR and Ofcom rates), so abandoned <= live.
    """

    abandoned_24h: int = 0
    live_24h: int = 0
    abandoned_30d: int = 0
    live_30d: int = 0


@dataclass(frozen=True, slots=True)
class GateRequest:
    """Everything the gate needs to decide about one number for one campaign at one moment."""

    number: str  # E.164 as stored, or raw text for `dialer check` (digits, + - . only)
    default_region: str
    policy: CompliancePolicy
    campaign: str | None = None
    caller_id: str | None = None  # the campaign's presented caller ID: `"Name" <+E164>` or a number
    history: NumberHistory = field(default_factory=NumberHistory)
    normalised: PhoneNumber | None = None  # set when the caller already normalised the number
    channel: Channel = Channel.CALL
    consents: tuple[ConsentRecord, ...] = ()  # every consent record the store holds for this number
    abandon_stats: AbandonStats = field(default_factory=AbandonStats)  # for `campaign`


@dataclass(frozen=True, slots=True)
class Decision:
    """The gate's verdict: the deciding rule (first block, or "allow"), its detail, every result."""

    verdict: Verdict
    rule: str
    detail: str
    results: tuple[RuleResult, ...]
    number: PhoneNumber | None
    retry_at: float | None = None
    masked_number: str = ""  # for audit rows and `dialer check`; never the full number

    @property
    def allowed(self) -> bool:
        """True when the call may be originated."""
        return self.verdict is Verdict.ALLOW

    @property
    def campaign_wide(self) -> bool:
        """True when the deciding block concerns the campaign, not this number."""
        return any(r.campaign_wide for r in self.results if r.blocked and r.rule == self.rule)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Details of allowing results that carry a warning (e.g. a registry in its grace period)."""
        return tuple(r.detail for r in self.results if not r.blocked and r.detail.startswith("WARNING"))
