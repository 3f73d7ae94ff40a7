"""Naming one more preset can only narrow: whatever the number, instant and presets, a call the
gate blocks stays blocked when the campaign is under an extra preset (hypothesis over the space)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.compliance import CompliancePolicy, DncIndex, Gate, GateRequest, NumberHistory
from dialer.compliance.factory import default_rules
from dialer.compliance.preset_catalog import builtin_catalog
from dialer.numbers import normalise
from tests.compliance.helpers import CALLER_ID

NAMED = ("us-states", "cn-insurance", "us-debt-collection", "gb-ofcom", "us", "gb", "cn")
NUMBERS = ("+13055550123", "+14055550123", "+12145550123", "+12125550123", "+18005550123", "+8613912345678",
           "+442079460123", "+16015550123", "+14015550123")
GATE = Gate(default_rules(DncIndex(), builtin_catalog()))
START = datetime(2026, 1, 1, tzinfo=UTC)


def blocked(raw: str, presets: frozenset[str], now: datetime, attempts_h: tuple[float, ...], debt: bool) -> set[str]:
    number = normalise(raw, "US")
    ts = now.timestamp()
    history = NumberHistory(attempt_times=tuple(ts - h * 3600 for h in attempts_h), debt_id="D" if debt else None,
                            debt_attempt_times=tuple(ts - h * 3600 for h in attempts_h) if debt else ())
    policy = CompliancePolicy(presets=tuple(presets), skip_holidays=False, max_attempts_per_24h=50,
                              max_attempts_per_7d=50, min_attempt_gap_s=0)
    request = GateRequest(number.e164, "US", policy, campaign="c", caller_id=CALLER_ID, history=history,
                          normalised=number)
    return {r.rule for r in GATE.check(request, now, explain=True).results if r.blocked}


@settings(max_examples=300, deadline=None)
@given(
    raw=st.sampled_from(NUMBERS),
    presets=st.frozensets(st.sampled_from(NAMED)),
    extra=st.sampled_from(NAMED),
    minutes=st.integers(0, 366 * 24 * 60),
    attempts_h=st.lists(st.floats(0.1, 200), max_size=9).map(tuple),
    debt=st.booleans(),
)
def test_an_extra_preset_never_lifts_a_block(raw, presets, extra, minutes, attempts_h, debt):
    now = START + timedelta(minutes=minutes)
    before = blocked(raw, presets, now, attempts_h, debt)
    after = blocked(raw, presets | {extra}, now, attempts_h, debt)
    assert before <= after
