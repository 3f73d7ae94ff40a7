"""DNC index: internal, campaign, opt-out lists with expiries, and registries, for the gate."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.compliance import DncIndex, DncList, Verdict

from .helpers import request, utc

NOW = utc(2025, 7, 8, 15, 0)
T = NOW.timestamp()
A, B = "+12025550123", "+14155550123"


def test_an_optout_captured_during_a_call_blocks_the_very_next_check(gate, index):
    assert gate.check(request(A, campaign="spring"), NOW).allowed
    index.add_optout(A)
    decision = gate.check(request(A, campaign="spring"), NOW)
    assert (decision.rule, decision.retry_at) == ("dnc.optout", None)
    assert index.remove_optout(A)
    assert gate.check(request(A, campaign="spring"), NOW).allowed


def test_an_optout_for_one_campaign_does_not_block_others(gate, index):
    index.add_optout(A, campaign="spring")
    assert gate.check(request(A, campaign="spring"), NOW).rule == "dnc.optout"
    assert gate.check(request(A, campaign="autumn"), NOW).allowed


def test_internal_list_entries_expire(gate, index):
    index.add_internal(A, expires_at=T + 3600)
    decision = gate.check(request(A), NOW)
    assert decision.rule == "dnc.internal"
    assert decision.retry_at == T + 3600  # a temporary block: it lifts at expiry
    assert "until 2025-07-08T16:00:00Z" in decision.detail
    assert gate.check(request(A), utc(2025, 7, 8, 16, 0)).allowed


def test_campaign_lists_apply_to_their_campaign_only(gate, index):
    index.add_campaign("spring", A)
    assert gate.check(request(A, campaign="spring"), NOW).rule == "dnc.campaign"
    assert gate.check(request(A, campaign="autumn"), NOW).allowed
    assert gate.check(request(A), NOW).allowed


def test_lookup_names_the_list_that_blocks(index):
    index.add_internal(A)
    index.add_campaign("spring", B)
    hit = index.lookup(A, "spring", NOW)
    assert hit is not None
    assert (hit.list, hit.name) == (DncList.INTERNAL, "internal")
    hit = index.lookup(B, "spring", NOW)
    assert hit is not None
    assert (hit.list, hit.name) == (DncList.CAMPAIGN, "spring")
    assert index.lookup(B, "autumn", NOW) is None
    assert [h.list for h in index.lookup_all(A, "spring", NOW)] == [DncList.INTERNAL]


def test_bulk_loads_replace_a_list_whole(index):
    index.add_internal(A)
    assert index.load_internal([(B, None)]) == 1
    assert index.internal_hit(A, T) is None
    assert index.internal_hit(B, T) is not None
    assert index.load_campaign("spring", [(A, T + 10)]) == 1
    assert index.campaign_hit(A, "spring", T) is not None


def test_entries_must_be_strict_e164(index):
    with pytest.raises(ValueError, match=r"E\.164"):
        index.add_internal("2025550123")
    with pytest.raises(ValueError, match=r"E\.164"):
        index.add_optout("+1202555&0123")


def test_purge_drops_only_expired_entries(index):
    index.add_internal(A, expires_at=T - 1)
    index.add_internal(B)
    index.add_optout(A, expires_at=T - 1)
    index.add_campaign("spring", A, expires_at=T + 1)
    assert index.purge_expired(NOW) == 2
    assert len(index) == 2


def test_rule_ids_match_the_lists(gate):
    assert {"dnc.optout", "dnc.internal", "dnc.campaign", "dnc.registry", "dnc.registry_age"} <= set(
        gate.rule_ids
    )
    assert {d.value for d in DncList} <= set(gate.rule_ids)


numbers = st.integers(min_value=2_000_000_000, max_value=2_000_000_099).map(lambda n: f"+1{n}")
ops = st.lists(
    st.tuples(
        st.sampled_from(["add_internal", "remove_internal", "add_optout", "remove_optout", "add_campaign"]),
        numbers,
        st.one_of(st.none(), st.integers(-100, 100)),
        st.sampled_from([None, "spring", "autumn"]),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(ops=ops, probe=numbers, campaign=st.sampled_from([None, "spring", "autumn"]))
def test_index_membership_matches_a_reference_model(ops, probe, campaign):
    index = DncIndex()
    internal: dict[str, float] = {}
    optouts: dict[tuple[str, str | None], float] = {}
    lists: dict[tuple[str, str], float] = {}
    inf = float("inf")
    for op, num, ttl, scope in ops:
        expiry = None if ttl is None else T + ttl
        exp = inf if expiry is None else expiry
        if op == "add_internal":
            index.add_internal(num, expires_at=expiry)
            internal[num] = exp
        elif op == "remove_internal":
            index.remove_internal(num)
            internal.pop(num, None)
        elif op == "add_optout":
            index.add_optout(num, campaign=scope, expires_at=expiry)
            optouts[(num, scope)] = exp
        elif op == "remove_optout":
            index.remove_optout(num, campaign=scope)
            optouts.pop((num, scope), None)
        elif scope is not None:
            index.add_campaign(scope, num, expires_at=expiry)
            lists[(scope, num)] = exp
    expected = (
        internal.get(probe, -inf) > T
        or optouts.get((probe, None), -inf) > T
        or (campaign is not None and optouts.get((probe, campaign), -inf) > T)
        or (campaign is not None and lists.get((campaign, probe), -inf) > T)
    )
    assert (index.lookup(probe, campaign, NOW) is not None) == expected


def test_a_blocked_number_reports_its_list_in_explain(gate, index):
    index.add_internal(A)
    decision = gate.check(request(A), NOW, explain=True)
    by_rule = {r.rule: r for r in decision.results}
    assert by_rule["dnc.internal"].verdict is Verdict.BLOCK
    assert by_rule["dnc.optout"].verdict is Verdict.ALLOW
