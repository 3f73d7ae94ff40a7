"""The gate as a whole: order of the chain, explain output, scrub counts, retry times, policy floor."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from dialer.compliance import (
    CompliancePolicy,
    DncIndex,
    Gate,
    NumberHistory,
    RuleResult,
    Verdict,
    build_gate,
    explain,
    scrub_counts,
)

from .helpers import OPEN_POLICY, request, utc

NOW = utc(2025, 7, 8, 15)
NOT_ALLOWED = "number contains characters that are not allowed in a dial string (only digits, + - .)"

STABLE_IDS = [
    "number.valid", "number.emergency", "number.type", "number.country", "dnc.erased", "dnc.optout", "dnc.internal",
    "dnc.campaign", "dnc.registry", "consent", "preset.consent", "dnc.registry_age", "caller_id", "abandon_rate",
    "preset.abandon_rate", "frequency.abandoned", "preset.abandoned", "frequency.gap", "frequency.daily",
    "frequency.weekly", "preset.cap", "window.holiday", "window.hours",
]  # fmt: skip


def test_rule_ids_are_stable_and_cheap_permanent_rules_come_first(gate):
    assert list(gate.rule_ids) == STABLE_IDS


def test_the_first_block_decides_and_later_rules_do_not_run(gate, index):
    index.add_internal("+12025550123")
    decision = gate.check(request("+12025550123", caller_id=None), NOW)
    assert decision.rule == "dnc.internal"
    assert [r.rule for r in decision.results][-1] == "dnc.internal"


def test_explain_runs_every_rule_and_reports_each(gate, index):
    index.add_internal("+12025550123")
    decision = gate.check(request("+12025550123", caller_id=None), NOW, explain=True)
    assert [r.rule for r in decision.results] == STABLE_IDS
    assert decision.rule == "dnc.internal"
    assert decision.retry_at is None  # a permanent block among the temporary ones


def test_explain_gives_the_json_shape_of_dialer_check(gate, index):
    index.add_optout("+12025550123")
    out = explain(gate.check(request("+12025550123"), NOW, explain=True))
    assert out["number"] == "+12*******23"
    assert out["verdict"] == "block"
    assert out["rules"][5] == {
        "rule": "dnc.optout",
        "verdict": "block",
        "detail": "opted out (all campaigns)",
    }
    assert "2025550123" not in json.dumps(out)


def test_explain_of_an_unparseable_number_masks_what_was_typed(gate):
    out = explain(gate.check(request("+1202555012x"), NOW, explain=True))
    assert out == {
        "number": "+12******12",
        "verdict": "block",
        "rules": [
            {
                "rule": "number.valid",
                "verdict": "block",
                "detail": NOT_ALLOWED,
            }
        ],
        "retry_at": None,
    }


def test_a_temporary_block_carries_the_time_it_lifts(gate):
    history = NumberHistory(attempt_times=(NOW.timestamp() - 60,))
    out = explain(gate.check(request("+12025550123", history=history, policy=OPEN_POLICY), NOW))
    assert out["retry_at"] == "2025-07-08T15:59:00Z"


def test_scrub_counts_tally_the_deciding_rule(gate, index):
    index.add_internal("+12025550123")
    numbers = ["+12025550123", "+14155550123", "+19005550123", "911", "+14155550124"]
    counts = scrub_counts(gate.check(request(n), NOW) for n in numbers)
    assert counts == {"allow": 2, "dnc.internal": 1, "number.emergency": 1, "number.type": 1}


def test_the_gate_needs_an_aware_clock(gate):
    with pytest.raises(ValueError, match="timezone-aware"):
        gate.check(request("+12025550123"), datetime(2025, 7, 8, 15))


def test_a_request_cannot_widen_the_global_policy():
    floor = CompliancePolicy(allowed_countries=("US",))
    gate = build_gate(floor, DncIndex())
    loose = OPEN_POLICY.model_copy(update={"allowed_countries": ()})
    decision = gate.check(request("+442079460000", "GB", policy=loose), NOW)
    assert decision.rule == "number.country"


def test_the_global_preset_applies_even_to_an_all_hours_campaign_without_override():
    gate = build_gate(CompliancePolicy(), DncIndex())
    late = utc(2025, 7, 9, 2)  # 22:00 in New York
    sneaky = OPEN_POLICY.model_copy(update={"override_country_hours": False})
    assert gate.check(request("+12025550123", policy=sneaky), late).rule == "window.hours"


class AlwaysBlocks:
    """A rule that blocks temporarily, to test how retry times combine."""

    id = "test.later"

    def __init__(self, at: float | None) -> None:
        self.at = at

    def evaluate(self, request, number, now):
        return RuleResult(self.id, Verdict.BLOCK, "no", retry_at=self.at)


def test_retry_is_when_every_temporary_block_has_lifted():
    gate = Gate([AlwaysBlocks(100.0), AlwaysBlocks(300.0)])
    assert gate.check(request("+12025550123"), NOW, explain=True).retry_at == 300.0
    assert (
        Gate([AlwaysBlocks(100.0), AlwaysBlocks(None)])
        .check(request("+12025550123"), NOW, explain=True)
        .retry_at
        is None
    )


def test_extra_rules_join_the_chain_after_the_standard_ones():
    gate = build_gate(OPEN_POLICY, DncIndex(), extra_rules=(AlwaysBlocks(None),))
    assert gate.rule_ids[-1] == "test.later"
    assert gate.check(request("+12025550123"), NOW).rule == "test.later"
