"""Retry policy: after an attempt ends, what happens to its lead. Pure code, one table in config."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dialer.config.models import RetryConfig
from dialer.outcome import Disposition


class LeadStatus(StrEnum):
    """Where a lead is in its life."""

    PENDING = "pending"  # waiting for its next attempt (next_attempt_at)
    DIALING = "dialing"  # an attempt is live
    FINISHED = "finished"  # reached a final outcome (answered, opted out, or nothing left to try)
    EXHAUSTED = "exhausted"  # retried up to the policy's limit without success
    BLOCKED = "blocked"  # the compliance gate blocked it for good
    INVALID = "invalid"  # the number cannot be dialled
    DISABLED = "disabled"  # taken out of dialing by hand (`dialer leads disable`); enable makes it pending


FINAL_DISPOSITIONS = {
    Disposition.ANSWERED: LeadStatus.FINISHED,
    Disposition.OPTED_OUT: LeadStatus.FINISHED,
    Disposition.INVALID_NUMBER: LeadStatus.INVALID,
    Disposition.BLOCKED: LeadStatus.BLOCKED,
}


@dataclass(frozen=True, slots=True)
class LeadStep:
    """The lead's next status and, if pending, when it may be tried again (unix s)."""

    status: LeadStatus
    next_attempt_at: float


def next_step(disposition: Disposition, attempts_made: int, policy: RetryConfig, now: float) -> LeadStep:
    """Decide the lead's next step from the attempt's disposition and how many attempts it has had."""
    if disposition in FINAL_DISPOSITIONS:
        return LeadStep(FINAL_DISPOSITIONS[disposition], now)
    key = Disposition.UNKNOWN if disposition is Disposition.UNKNOWN_AFTER_RESTART else disposition
    rule = policy.rules.get(key)
    if rule is None:
        return LeadStep(LeadStatus.FINISHED, now)
    if attempts_made >= rule.max_attempts:
        return LeadStep(LeadStatus.EXHAUSTED, now)
    return LeadStep(LeadStatus.PENDING, now + rule.delay_s)
