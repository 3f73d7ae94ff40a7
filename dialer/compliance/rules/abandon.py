"""Abandon-rate rule: a campaign at or over its abandoned-call limit stops new originations.

The pacer slows before the limit with `abandon_headroom`; the gate stops at it.
"""

from __future__ import annotations

from datetime import datetime

from dialer.compliance.model import AbandonStats, Channel, GateRequest, RuleResult, Verdict
from dialer.compliance.opening import utc_iso
from dialer.compliance.policy import CompliancePolicy
from dialer.numbers import PhoneNumber

ABANDON_RATE = "abandon_rate"


def _rate(abandoned: int, live: int) -> float:
    """abandoned / live-answered; an abandon with no live call counted is a full 100%."""
    if live <= 0:
        return 0.0 if abandoned <= 0 else 1.0
    return abandoned / live


def abandon_rates(stats: AbandonStats) -> tuple[float, float]:
    """(24-hour rate, 30-day rate)."""
    return _rate(stats.abandoned_24h, stats.live_24h), _rate(stats.abandoned_30d, stats.live_30d)


def abandon_headroom(stats: AbandonStats, policy: CompliancePolicy) -> float:
    """How far below the limit the campaign runs: 1.0 = no abandons, 0.0 = at or over the limit."""
    worst = max(abandon_rates(stats))
    return min(1.0, max(0.0, 1.0 - worst / policy.max_abandon_rate))


class AbandonRateRule:
    """Blocks a campaign's new calls while its 24 h or 30-day abandon rate is at or over the limit."""

    id = ABANDON_RATE

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Compare both rates with `max_abandon_rate`; a block is temporary and campaign-wide."""
        if request.channel is not Channel.CALL:
            return RuleResult(self.id, Verdict.ALLOW, f"not applicable to {request.channel}")
        stats = request.abandon_stats
        limit = request.policy.max_abandon_rate
        day, month = abandon_rates(stats)
        summary = (
            f"24 h {day:.1%} ({stats.abandoned_24h}/{stats.live_24h}), "
            f"30 days {month:.1%} ({stats.abandoned_30d}/{stats.live_30d}), limit {limit:.1%}"
        )
        if day < limit and month < limit:
            return RuleResult(self.id, Verdict.ALLOW, f"abandon rate {summary}")
        retry_at = now.timestamp() + request.policy.campaign_recheck_s
        detail = (
            f"abandon rate at or over the limit: {summary}; the campaign's new calls stop until it falls "
            f"below (abandoned calls age out of the window); re-check at {utc_iso(retry_at)}"
        )
        return RuleResult(self.id, Verdict.BLOCK, detail, retry_at=retry_at, campaign_wide=True)
