"""Abandon rate: the gate stops a campaign at the limit; the pacer slows before it."""

from __future__ import annotations

import pytest

from dialer.compliance import AbandonStats, Channel, CompliancePolicy, abandon_headroom, abandon_rates

from .helpers import OPEN_POLICY, request, utc

NOW = utc(2025, 7, 8, 15)


def check(gate, stats, **kw):
    return gate.check(request("+12025550123", campaign="spring", abandon_stats=stats, **kw), NOW)


def test_a_campaign_under_the_limit_calls(gate):
    assert check(gate, AbandonStats(abandoned_24h=2, live_24h=100, abandoned_30d=20, live_30d=1000)).allowed


def test_a_campaign_at_the_limit_stops_new_calls_temporarily(gate):
    decision = check(gate, AbandonStats(abandoned_24h=3, live_24h=100))
    assert decision.rule == "abandon_rate"
    assert decision.campaign_wide
    assert decision.retry_at == NOW.timestamp() + OPEN_POLICY.campaign_recheck_s
    assert "24 h 3.0% (3/100)" in decision.detail


def test_the_30_day_rate_counts_too(gate):
    decision = check(gate, AbandonStats(abandoned_24h=0, live_24h=50, abandoned_30d=40, live_30d=1000))
    assert decision.rule == "abandon_rate"


def test_an_abandon_with_no_live_call_counted_is_over_any_limit():
    assert abandon_rates(AbandonStats(abandoned_24h=1, live_24h=0)) == (1.0, 0.0)
    assert abandon_rates(AbandonStats()) == (0.0, 0.0)


def test_sms_has_no_abandon_rate(gate):
    assert check(gate, AbandonStats(abandoned_24h=50, live_24h=50), channel=Channel.SMS).allowed


@pytest.mark.parametrize(
    ("abandoned", "live", "headroom"),
    [(0, 100, 1.0), (1, 100, 2 / 3), (3, 200, 0.5), (3, 100, 0.0), (9, 100, 0.0)],
)
def test_headroom_tells_the_pacer_how_far_below_the_limit_it_runs(abandoned, live, headroom):
    stats = AbandonStats(abandoned_24h=abandoned, live_24h=live)
    assert abandon_headroom(stats, CompliancePolicy()) == pytest.approx(headroom)
