"""Number screen: dial-string safety, emergency and service codes, validity, type and country."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.compliance import CompliancePolicy, Verdict
from dialer.compliance.rules.number import EMERGENCY_DETAIL, is_emergency_or_service
from dialer.numbers import is_e164

from .helpers import OPEN_POLICY, request, utc

NOW = utc(2025, 7, 8, 18, 0)


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("911", "US"),
        ("112", "DE"),
        ("112", "FR"),
        ("999", "GB"),
        ("110", "DE"),
        ("110", "CN"),
        ("119", "CN"),
        ("120", "CN"),
        ("122", "CN"),
        ("000", "AU"),
        ("100", "IN"),
        ("15", "FR"),
        ("190", "BR"),
        ("411", "US"),  # service short code
        ("116000", "FR"),  # EU harmonised helpline
        ("9-1-1", "US"),
        ("+1911", "US"),
        ("+44999", "US"),
        ("9110", "US"),  # still reaches 911
    ],
)
def test_emergency_and_service_numbers_are_blocked_with_a_clear_detail(gate, raw, region):
    decision = gate.check(request(raw, region), NOW)
    assert decision.verdict is Verdict.BLOCK
    assert decision.rule == "number.emergency"
    assert decision.detail == EMERGENCY_DETAIL


def test_ordinary_numbers_are_not_taken_for_service_codes():
    assert not is_emergency_or_service("+12025550123", "US")
    assert not is_emergency_or_service("02079460000", "GB")


@pytest.mark.parametrize(
    ("raw", "region", "kind"),
    [
        ("+19005550123", "US", "premium_rate"),
        ("+33884012345", "FR", "shared_cost"),
        ("+611300123456", "AU", "shared_cost"),
        ("+4918500123456", "DE", "uan"),
        ("+15002345678", "US", "personal_number"),
        ("+447012345678", "GB", "personal_number"),
        ("+447640123456", "GB", "pager"),
        ("+445512345678", "GB", "uan"),
        ("+33892123456", "FR", "premium_rate"),
    ],
)
def test_blocked_number_types_are_never_called(gate, raw, region, kind):
    decision = gate.check(request(raw, region), NOW)
    assert (decision.rule, decision.detail) == ("number.type", f"{kind} numbers are never called")


def test_a_number_type_can_be_allowed_only_by_a_looser_global_policy(index):
    from dialer.compliance import build_gate

    permissive = OPEN_POLICY.model_copy(update={"blocked_number_types": ()})
    gate = build_gate(permissive, index)
    assert gate.check(request("+19005550123", policy=permissive), NOW).rule != "number.type"


def test_countries_outside_the_allowed_list_are_blocked(gate):
    policy = OPEN_POLICY.model_copy(update={"allowed_countries": ("US", "CA")})
    assert gate.check(request("+12025550123", policy=policy), NOW).allowed
    decision = gate.check(request("+442079460000", "GB", policy=policy), NOW)
    assert (decision.rule, decision.detail) == ("number.country", "GB is not an allowed country (CA, US)")


@pytest.mark.parametrize("raw", ["+1202555012", "12", "+999123456789", "abc", "", "+0123456789"])
def test_invalid_numbers_are_blocked(gate, raw):
    assert gate.check(request(raw), NOW).rule == "number.valid"


@pytest.mark.parametrize(
    "raw",
    [
        "+12025550123&SIP/evil",
        "+12025550123,1",
        "2025550123@trunk",
        "+1 202 555 0123",
        "(202) 555-0123",
        "+12025550123\n",
        "+12025550123;x",
        "SIP/+12025550123",
        "+1202555０123",  # a full-width digit
        "+12025550123\x00",
    ],
)
def test_text_that_could_alter_a_dial_string_is_refused_not_cleaned(gate, raw):
    decision = gate.check(request(raw), NOW)
    assert decision.rule == "number.valid"
    assert "not allowed" in decision.detail
    assert decision.number is None


def test_separators_that_cannot_alter_a_dial_string_are_accepted(gate):
    decision = gate.check(request("202-555.0123"), NOW)
    assert decision.allowed
    assert decision.number is not None
    assert decision.number.e164 == "+12025550123"


def test_a_precomputed_number_is_used_only_if_it_matches_the_request(gate):
    from dialer.numbers import NumberType, PhoneNumber

    forged = PhoneNumber("+12025550123&x", "US", NumberType.MOBILE, ("America/New_York",))
    decision = gate.check(request("+12025550123&x", pre=forged), NOW)
    assert decision.rule == "number.valid"
    other = PhoneNumber("+12025550124", "US", NumberType.MOBILE, ("America/New_York",))
    decision = gate.check(request("+12025550123", pre=other), NOW)
    assert decision.allowed
    assert decision.number is not None
    assert decision.number.e164 == "+12025550123"


HOSTILE = "&/,@;:() \t\r\n\x00\x07\x1b\x7féü٣०０\u200b\u202e"
DIGITS = string.digits


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prefix=st.text(alphabet=DIGITS + "+", min_size=0, max_size=12),
    hostile=st.text(alphabet=HOSTILE, min_size=1, max_size=4),
    suffix=st.text(alphabet=DIGITS, min_size=0, max_size=12),
    region=st.sampled_from(["US", "GB", "DE", "FR", "IN", "AU", "BR", "CN", "CA"]),
)
def test_no_hostile_string_is_ever_allowed(gate, prefix, hostile, suffix, region):
    raw = prefix + hostile + suffix
    decision = gate.check(request(raw, region), NOW)
    assert not decision.allowed
    assert decision.number is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw=st.text(alphabet=DIGITS + "+-." + HOSTILE, min_size=0, max_size=20),
    region=st.sampled_from(["US", "GB", "DE", "FR", "IN", "AU", "BR", "CN", "CA"]),
)
def test_any_allowed_decision_carries_a_strict_e164_number(gate, raw, region):
    decision = gate.check(request(raw, region), NOW)
    if decision.allowed:
        assert decision.number is not None
        assert is_e164(decision.number.e164)
        assert not set(raw) & set(HOSTILE)


def test_details_never_contain_the_full_number(gate):
    raw = "+19005550123"
    decision = gate.check(request(raw, policy=CompliancePolicy()), NOW, explain=True)
    assert all("9005550123" not in r.detail for r in decision.results)
    assert decision.masked_number == "+19*******23"
