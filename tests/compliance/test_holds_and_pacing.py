"""Campaign holds and the abandon-rate slowdown of the pacer: pure code."""

from __future__ import annotations

import pytest

from dialer.compliance import AbandonStats, CompliancePolicy, abandon_headroom
from dialer.compliance.holds import CampaignHolds
from dialer.config.models import PacingConfig
from dialer.pacer import Pacer, abandon_slowdown


def test_a_hold_stops_the_campaign_until_its_recheck_and_alerts_only_when_it_starts():
    holds = CampaignHolds()
    assert holds.hold("c1", "abandon_rate", "3.4%", now=100.0, until=200.0) is True
    assert holds.active("c1", 150.0) is not None
    assert holds.active("c2", 150.0) is None
    assert holds.active("c1", 200.0) is None  # due for its re-check
    assert holds.hold("c1", "abandon_rate", "3.2%", now=200.0, until=300.0) is False  # still the same hold
    assert holds.hold("c1", "caller_id", "no caller ID", now=210.0, until=300.0) is True  # another reason
    holds.lift("c1")
    assert holds.hold("c1", "abandon_rate", "3.1%", now=400.0, until=500.0) is True


@pytest.mark.parametrize(("headroom", "share"), [(1.0, 1.0), (0.5, 1.0), (0.25, 0.5), (0.05, 0.1), (0.0, 0.0)])
def test_the_slowdown_starts_at_half_the_headroom(headroom, share):
    assert abandon_slowdown(headroom) == pytest.approx(share)


def test_the_pacer_slows_a_campaign_before_the_abandon_limit():
    policy = CompliancePolicy(max_abandon_rate=0.03)
    pacer = Pacer(PacingConfig(max_concurrent_calls=100, max_originations_per_s=1000),
                  {"c1": PacingConfig(max_concurrent_calls=20, max_originations_per_s=1000, burst=1000)}, 0.0)
    healthy = AbandonStats(abandoned_24h=0, live_24h=100, abandoned_30d=0, live_30d=100)
    close = AbandonStats(abandoned_24h=2, live_24h=100, abandoned_30d=2, live_30d=100)  # 2% of a 3% limit
    pacer.slow_down("c1", abandon_slowdown(abandon_headroom(healthy, policy)))
    assert pacer.slots("c1", 0, 0, 0.0) == 20
    pacer.slow_down("c1", abandon_slowdown(abandon_headroom(close, policy)))
    assert pacer.concurrency("c1") == 13  # headroom 1/3 -> two thirds of 20
    assert pacer.slots("c1", 0, 10, 0.0) == 3
    pacer.slow_down("c1", 0.001)
    assert pacer.concurrency("c1") == 1  # one call keeps the rate measurable; the gate stops at the limit
