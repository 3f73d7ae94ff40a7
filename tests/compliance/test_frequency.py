"""Frequency: attempts per 24 h and 7 days across campaigns, minimum gap, 72 h after an abandoned call."""

from __future__ import annotations

from dialer.compliance import NumberHistory

from .helpers import OPEN_POLICY, request, utc

NOW = utc(2025, 7, 8, 15)
T = NOW.timestamp()
H = 3600.0
LOOSE_GAP = OPEN_POLICY.model_copy(update={"min_attempt_gap_s": 0})


def check(gate, history, policy=LOOSE_GAP):
    return gate.check(request("+12025550123", policy=policy, history=history), NOW)


def test_a_fourth_attempt_in_24_hours_waits_until_the_oldest_ages_out(gate):
    history = NumberHistory(attempt_times=(T - 20 * H, T - 10 * H, T - 2 * H))
    decision = check(gate, history)
    assert decision.rule == "frequency.daily"
    assert decision.retry_at == T - 20 * H + 24 * H
    assert "3 attempts in the last 24 h (limit 3)" in decision.detail


def test_attempts_older_than_24_hours_do_not_count_for_the_daily_cap(gate):
    assert check(gate, NumberHistory(attempt_times=(T - 30 * H, T - 10 * H, T - 2 * H))).allowed


def test_the_weekly_cap_counts_all_campaigns_over_seven_days(gate):
    history = NumberHistory(attempt_times=tuple(T - d * 24 * H - H for d in range(7)))
    decision = check(gate, history)
    assert decision.rule == "frequency.weekly"
    assert decision.retry_at == T - 6 * 24 * H - H + 7 * 24 * H


def test_a_narrower_cap_retries_when_enough_attempts_have_aged_out(gate):
    policy = LOOSE_GAP.model_copy(update={"max_attempts_per_24h": 1})
    decision = check(gate, NumberHistory(attempt_times=(T - 5 * H, T - 3 * H)), policy)
    assert decision.retry_at == T - 3 * H + 24 * H  # both must leave the window


def test_a_zero_cap_blocks_for_good(gate):
    policy = LOOSE_GAP.model_copy(update={"max_attempts_per_24h": 0})
    decision = check(gate, NumberHistory(), policy)
    assert (decision.rule, decision.retry_at) == ("frequency.daily", None)


def test_attempts_closer_than_the_minimum_gap_wait(gate):
    policy = OPEN_POLICY.model_copy(update={"min_attempt_gap_s": 4 * 3600})
    decision = check(gate, NumberHistory(attempt_times=(T - H,)), policy)
    assert decision.rule == "frequency.gap"
    assert decision.retry_at == T + 3 * H
    assert check(gate, NumberHistory(attempt_times=(T - 4 * H,)), policy).allowed


def test_no_new_attempt_within_72_hours_of_an_abandoned_call(gate):
    decision = check(gate, NumberHistory(last_abandoned_at=T - 71 * H))
    assert decision.rule == "frequency.abandoned"
    assert decision.retry_at == T + H
    assert check(gate, NumberHistory(last_abandoned_at=T - 72 * H)).allowed


def test_an_attempt_stamped_in_the_future_still_counts(gate):
    decision = check(gate, NumberHistory(attempt_times=(T + 60,)), OPEN_POLICY)
    assert decision.rule == "frequency.gap"
    assert decision.retry_at == T + 60 + OPEN_POLICY.min_attempt_gap_s
