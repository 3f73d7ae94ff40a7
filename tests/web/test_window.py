"""The page's calling window says what the gate does: open now for a group of callees exactly when
the gate's hours and holiday rules let such a callee be called, and the next opening it names is
an instant the gate allows."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.compliance import CompliancePolicy, Verdict
from dialer.compliance.rules.window import HolidayRule, HoursRule, number_zones
from dialer.web.window import window_state
from tests.compliance.helpers import number, request

CALLEES = [("+12025550123", "US"), ("+14155550123", "US"), ("+442079460000", "GB"), ("+4930123456", "DE"),
           ("+61731234567", "AU")]
POLICY = CompliancePolicy()  # the country presets, holidays skipped


def gate_allows(raw: str, region: str, ts: float) -> bool:
    pn = number(raw, region)
    now = datetime.fromtimestamp(ts, UTC)
    req = request(pn.e164, region, policy=POLICY, pre=pn)
    return all(rule.evaluate(req, pn, now).verdict is Verdict.ALLOW for rule in (HoursRule(), HolidayRule()))


@settings(max_examples=150, deadline=None)
@given(callee=st.sampled_from(CALLEES), ts=st.integers(1_767_225_600, 1_830_297_600))  # 2026 .. 2027
def test_open_for_a_callee_group_exactly_when_the_gate_allows_the_call(callee, ts):
    raw, region = callee
    state = window_state([(region, number_zones(number(raw, region)))], POLICY, ts)
    allowed = gate_allows(raw, region, ts)
    assert state.open is allowed
    if not allowed:
        assert state.next_open_at is not None
        assert state.next_open_at > ts
        assert gate_allows(raw, region, state.next_open_at)
        assert not gate_allows(raw, region, state.next_open_at - 1)  # the first open second, not a later one


def test_a_campaign_is_open_if_some_callees_may_be_called_and_names_the_first_opening_otherwise():
    # Tuesday 2026-07-07 06:00 UTC: 02:00 in Washington, 23:00 in San Francisco, 07:00 in London,
    # 08:00 in Berlin (the German preset opens at 08:00), 16:00 in Brisbane.
    ts = datetime(2026, 7, 7, 6, 0, tzinfo=UTC).timestamp()
    groups = [(region, number_zones(number(raw, region))) for raw, region in CALLEES]
    state = window_state(groups, POLICY, ts)
    assert state.groups == 5
    assert state.open_groups == sum(gate_allows(raw, region, ts) for raw, region in CALLEES)
    assert state.open is True
    closed = window_state(groups[:2], POLICY, ts)  # the two US callees only
    assert closed.open is False
    assert closed.next_open_at == datetime(2026, 7, 7, 12, 0, tzinfo=UTC).timestamp()  # 08:00 in Washington
    assert window_state([], POLICY, ts).open is None  # nobody left to call
