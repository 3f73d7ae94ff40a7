"""Retry policy and pacer: pure units."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.config.models import PacingConfig, RetryConfig, RetryRule
from dialer.outcome import CallFacts, Disposition, classify
from dialer.pacer import Pacer
from dialer.retry import LeadStatus, LeadStep, next_step

POLICY = RetryConfig(rules={Disposition.BUSY: RetryRule(delay_s=60, max_attempts=3)})


def test_busy_callee_is_retried_after_delay_until_the_limit():
    assert next_step(Disposition.BUSY, 1, POLICY, 100.0) == LeadStep(LeadStatus.PENDING, 160.0)
    assert next_step(Disposition.BUSY, 2, POLICY, 100.0).status is LeadStatus.PENDING
    assert next_step(Disposition.BUSY, 3, POLICY, 100.0).status is LeadStatus.EXHAUSTED


@pytest.mark.parametrize(("disposition", "status"), [
    (Disposition.ANSWERED, LeadStatus.FINISHED),
    (Disposition.OPTED_OUT, LeadStatus.FINISHED),
    (Disposition.INVALID_NUMBER, LeadStatus.INVALID),
    (Disposition.NO_ANSWER, LeadStatus.FINISHED),  # no rule for it in POLICY
])
def test_final_dispositions_end_the_lead(disposition, status):
    assert next_step(disposition, 1, POLICY, 0.0).status is status


@pytest.mark.parametrize(("facts", "disposition"), [
    (CallFacts(reason=4, callee_cause=16, answered=True), Disposition.ANSWERED),
    (CallFacts(reason=5, callee_cause=17, answered=False), Disposition.BUSY),
    (CallFacts(reason=3, callee_cause=19, answered=False), Disposition.NO_ANSWER),
    (CallFacts(reason=8, callee_cause=34, answered=False), Disposition.CONGESTION),
    (CallFacts(reason=0, callee_cause=21, answered=False), Disposition.REJECTED),
    (CallFacts(reason=0, callee_cause=1, answered=False), Disposition.INVALID_NUMBER),
    (CallFacts(reason=0, callee_cause=0, answered=False), Disposition.FAILED),
    (CallFacts(reason=0, callee_cause=None, answered=False), Disposition.FAILED),
    (CallFacts(reason=None, callee_cause=None, answered=False), Disposition.UNKNOWN),
    (CallFacts(reason=4, callee_cause=16, answered=True, amd_status="MACHINE"), Disposition.MACHINE),
    (CallFacts(reason=4, callee_cause=16, answered=True, opted_out=True), Disposition.OPTED_OUT),
])
def test_reason_and_cause_table(facts, disposition):
    assert classify(facts) is disposition


def test_pacer_respects_concurrency_at_both_levels():
    pacer = Pacer(PacingConfig(max_concurrent_calls=5, max_originations_per_s=100),
                  {"a": PacingConfig(max_concurrent_calls=3, max_originations_per_s=100)}, now=0.0)
    assert pacer.slots("a", live_total=0, live_campaign=0, now=0.0) == 3
    assert pacer.slots("a", live_total=4, live_campaign=0, now=0.0) == 1
    assert pacer.slots("a", live_total=2, live_campaign=3, now=0.0) == 0
    assert pacer.slots("unknown", 0, 0, 0.0) == 0


@given(st.lists(st.floats(0.0, 0.5), min_size=1, max_size=200), st.floats(1.0, 50.0))
def test_token_bucket_never_exceeds_its_rate_over_any_run(gaps, rate):
    pacer = Pacer(PacingConfig(max_concurrent_calls=10_000, max_originations_per_s=10_000),
                  {"a": PacingConfig(max_concurrent_calls=10_000, max_originations_per_s=rate)}, now=0.0)
    now, sent = 0.0, 0
    for gap in gaps:
        now += gap
        n = pacer.slots("a", 0, 0, now)
        pacer.consume("a", n, now)
        sent += n
    burst = max(1, int(rate))
    assert sent <= burst + rate * now + 1e-6
