"""The pacer: how many calls may start now, under concurrency and calls-per-second limits.

Two limits at two levels (global and per campaign): live calls below `max_concurrent_calls`, and
a token bucket refilled at `max_originations_per_s`. Pure code driven by a monotonic clock.
"""

from __future__ import annotations

from collections.abc import Mapping

from dialer.config.models import PacingConfig


class TokenBucket:
    """Tokens refill at `rate_per_s` up to `burst`; each origination takes one."""

    def __init__(self, rate_per_s: float, burst: int, now: float) -> None:
        self.rate_per_s = rate_per_s
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._at = now

    def available(self, now: float) -> int:
        """Whole tokens available at `now`."""
        self._refill(now)
        return int(self._tokens)

    def take(self, count: int, now: float) -> None:
        """Spend `count` tokens (never below zero)."""
        self._refill(now)
        self._tokens = max(0.0, self._tokens - count)

    def reconfigure(self, rate_per_s: float, burst: int, now: float) -> None:
        """Apply new limits (config reload) without granting a fresh burst."""
        self._refill(now)
        self.rate_per_s = rate_per_s
        self.burst = max(1, burst)
        self._tokens = min(self._tokens, float(self.burst))

    def _refill(self, now: float) -> None:
        elapsed = now - self._at
        if elapsed > 0:
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate_per_s)
            self._at = now


# Below this much headroom under the abandon-rate limit (see compliance.abandon_headroom), a
# campaign's concurrency shrinks in proportion, so it slows before the gate has to stop it.
SLOWDOWN_HEADROOM = 0.5


def abandon_slowdown(headroom: float, start: float = SLOWDOWN_HEADROOM) -> float:
    """The share of a campaign's concurrency to use: 1.0 with headroom >= `start`, falling to 0 at 0."""
    if headroom >= start:
        return 1.0
    return max(0.0, headroom / start)


def _burst(config: PacingConfig) -> int:
    # Default bucket: one second's worth of calls, but at least one.
    return config.burst or max(1, int(config.max_originations_per_s))


class Pacer:
    """Decides how many new calls each campaign may start now."""

    def __init__(self, global_limits: PacingConfig, campaigns: Mapping[str, PacingConfig], now: float) -> None:
        self._global_limits = global_limits
        self._global = TokenBucket(global_limits.max_originations_per_s, _burst(global_limits), now)
        self._limits: dict[str, PacingConfig] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._shares: dict[str, float] = {}
        self.reconfigure(global_limits, campaigns, now)

    def reconfigure(self, global_limits: PacingConfig, campaigns: Mapping[str, PacingConfig], now: float) -> None:
        """Apply reloaded limits; live calls and spent tokens carry over."""
        self._global_limits = global_limits
        self._global.reconfigure(global_limits.max_originations_per_s, _burst(global_limits), now)
        for name, limits in campaigns.items():
            bucket = self._buckets.get(name)
            if bucket is None:
                self._buckets[name] = TokenBucket(limits.max_originations_per_s, _burst(limits), now)
            else:
                bucket.reconfigure(limits.max_originations_per_s, _burst(limits), now)
        self._limits = dict(campaigns)

    def slow_down(self, campaign: str, share: float) -> None:
        """Use only `share` (0..1] of the campaign's concurrency limit (at least one call); 1.0 = all."""
        self._shares[campaign] = min(1.0, max(0.0, share))

    def concurrency(self, campaign: str) -> int:
        """The campaign's concurrency limit after any slowdown."""
        limits = self._limits.get(campaign)
        if limits is None:
            return 0
        share = self._shares.get(campaign, 1.0)
        if share >= 1.0:
            return limits.max_concurrent_calls
        # Fewer calls in flight is what lowers abandons; one call keeps the rate measurable.
        # (+1e-9: two thirds of 9 is 6, not the 5.999... floating point makes of it)
        return max(1, int(limits.max_concurrent_calls * share + 1e-9))

    def slots(self, campaign: str, live_total: int, live_campaign: int, now: float) -> int:
        """How many calls `campaign` may originate at `now`."""
        limits = self._limits.get(campaign)
        if limits is None:
            return 0
        return max(0, min(
            self._global_limits.max_concurrent_calls - live_total,
            self.concurrency(campaign) - live_campaign,
            self._global.available(now),
            self._buckets[campaign].available(now),
        ))

    def consume(self, campaign: str, count: int, now: float) -> None:
        """Record that `count` calls of `campaign` were originated at `now`."""
        self._global.take(count, now)
        self._buckets[campaign].take(count, now)
