"""Frequency rules: attempts per number across all campaigns, gaps, and the abandoned-call cool-off."""

from __future__ import annotations

from datetime import datetime

from dialer.compliance.model import GateRequest, RuleResult, Verdict
from dialer.compliance.opening import utc_iso
from dialer.compliance.policy import DAY_S
from dialer.numbers import PhoneNumber

DAILY = "frequency.daily"
WEEKLY = "frequency.weekly"
GAP = "frequency.gap"
ABANDONED = "frequency.abandoned"


def sliding_cap(
    rule: str, times: tuple[float, ...], now_s: float, window_s: float, limit: int, label: str
) -> RuleResult:
    """Block when `limit` attempts already lie in the sliding window; retry when enough age out."""
    # Attempts stamped in the future (clock skew between nodes) still count.
    recent = sorted(t for t in times if t > now_s - window_s)
    if len(recent) < limit:
        return RuleResult(rule, Verdict.ALLOW, f"{len(recent)} of {limit} attempts in the last {label}")
    if limit == 0:
        return RuleResult(rule, Verdict.BLOCK, f"no attempts allowed per {label} by this policy")
    # The (len - limit + 1)-th oldest attempt leaving the window brings the count below the limit.
    retry_at = recent[len(recent) - limit] + window_s
    detail = f"{len(recent)} attempts in the last {label} (limit {limit}); next allowed {utc_iso(retry_at)}"
    return RuleResult(rule, Verdict.BLOCK, detail, retry_at=retry_at)


class DailyCapRule:
    """At most `max_attempts_per_24h` attempts per number in any 24 hours, across campaigns."""

    id = DAILY

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Count attempts in the 24 h before `now`."""
        policy = request.policy
        return sliding_cap(
            self.id,
            request.history.attempt_times,
            now.timestamp(),
            DAY_S,
            policy.max_attempts_per_24h,
            "24 h",
        )


class WeeklyCapRule:
    """At most `max_attempts_per_7d` attempts per number in any 7 days, across campaigns."""

    id = WEEKLY

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Count attempts in the 7 days before `now`."""
        policy = request.policy
        times = request.history.attempt_times
        return sliding_cap(self.id, times, now.timestamp(), 7 * DAY_S, policy.max_attempts_per_7d, "7 days")


class GapRule:
    """At least `min_attempt_gap_s` between two attempts to one number."""

    id = GAP

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Block until the last attempt is `min_attempt_gap_s` old."""
        times = request.history.attempt_times
        gap_s = request.policy.min_attempt_gap_s
        if not times:
            return RuleResult(self.id, Verdict.ALLOW, "no earlier attempt")
        last = max(times)
        retry_at = last + gap_s
        if now.timestamp() >= retry_at:
            return RuleResult(
                self.id, Verdict.ALLOW, f"last attempt {utc_iso(last)}, gap {gap_s} s respected"
            )
        detail = f"last attempt {utc_iso(last)}; minimum gap {gap_s} s; next allowed {utc_iso(retry_at)}"
        return RuleResult(self.id, Verdict.BLOCK, detail, retry_at=retry_at)


class AbandonedCooloffRule:
    """No new attempt within `abandoned_cooloff_s` (72 h) of an abandoned call to the number."""

    id = ABANDONED

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Block until the last abandoned call is old enough."""
        last = request.history.last_abandoned_at
        if last is None:
            return RuleResult(self.id, Verdict.ALLOW, "no abandoned call to this number")
        cooloff_s = request.policy.abandoned_cooloff_s
        retry_at = last + cooloff_s
        if now.timestamp() >= retry_at:
            return RuleResult(
                self.id, Verdict.ALLOW, f"last abandoned call {utc_iso(last)} is past the cool-off"
            )
        detail = (
            f"abandoned call to this number at {utc_iso(last)}; no new attempt for {cooloff_s // 3600} h, "
            f"until {utc_iso(retry_at)}"
        )
        return RuleResult(self.id, Verdict.BLOCK, detail, retry_at=retry_at)
