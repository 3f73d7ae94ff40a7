"""Plain data the gate takes and returns. No I/O: the pipeline gathers the facts, the gate decides."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from dialer.compliance.policy import CompliancePolicy
from dialer.numbers import PhoneNumber


class Verdict(StrEnum):
    """A rule's or the gate's answer."""

    ALLOW = "allow"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One rule's answer. `retry_at` (unix s) marks a temporary block: the lead may try again then."""

    rule: str
    verdict: Verdict
    detail: str
    retry_at: float | None = None

    @property
    def blocked(self) -> bool:
        """True when this rule blocks the call."""
        return self.verdict is Verdict.BLOCK


@dataclass(frozen=True, slots=True)
class NumberHistory:
    """What the store knows about earlier calls to one number, across all campaigns."""

    attempt_times: tuple[float, ...] = ()  # start times (unix s) of attempts in the last 7 days
    last_abandoned_at: float | None = None


@dataclass(frozen=True, slots=True)
class GateRequest:
    """Everything the gate needs to decide about one number for one campaign at one moment."""

    number: str  # E.164 as stored, or raw text for `dialer check`
    default_region: str
    policy: CompliancePolicy
    campaign: str | None = None
    caller_id: str | None = None
    history: NumberHistory = field(default_factory=NumberHistory)
    normalised: PhoneNumber | None = None  # set when the caller already normalised the number


@dataclass(frozen=True, slots=True)
class Decision:
    """The gate's verdict: the deciding rule (first block, or "allow"), its detail, every result."""

    verdict: Verdict
    rule: str
    detail: str
    results: tuple[RuleResult, ...]
    number: PhoneNumber | None
    retry_at: float | None = None

    @property
    def allowed(self) -> bool:
        """True when the call may be originated."""
        return self.verdict is Verdict.ALLOW
