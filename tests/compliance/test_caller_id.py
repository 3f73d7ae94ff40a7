"""Caller ID: a campaign without a valid, presentable caller ID cannot originate."""

from __future__ import annotations

import pytest

from dialer.compliance import CallerIdError, Channel, parse_caller_id

from .helpers import request, utc

NOW = utc(2025, 7, 8, 15)


@pytest.mark.parametrize(
    ("text", "name", "e164"),
    [
        ('"Acme Energy" <+12025550199>', "Acme Energy", "+12025550199"),
        ("Acme <+12025550199>", "Acme", "+12025550199"),
        ("<(202) 555-0199>", "", "+12025550199"),
        ("+12025550199", "", "+12025550199"),
        ("202-555-0199", "", "+12025550199"),
        ('"Société Générale" <+33142685300>', "Société Générale", "+33142685300"),
    ],
)
def test_caller_ids_parse_in_the_usual_forms(text, name, e164):
    caller = parse_caller_id(text, "US")
    assert (caller.name, caller.number.e164) == (name, e164)


def test_the_ami_form_is_quoted_name_and_e164():
    assert parse_caller_id("Acme <202 555 0199>", "US").ami() == '"Acme" <+12025550199>'
    assert parse_caller_id("+12025550199", "US").ami() == "<+12025550199>"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('"Acme" <911>', "emergency"),
        ('"Acme" <+19005550199>', "premium_rate"),
        ('"Acme" <12345>', "not valid"),
        ('"Acme" <>', "no number"),
        ('"Acme\r\nAction: Hangup" <+12025550199>', "control characters"),
        ('"Anonymous" <+12025550199>', "withholds"),
        ('"Acme" <+12025550199', "neither"),
        ("x" * 70 + " <+12025550199>", "longer than"),
    ],
)
def test_unpresentable_caller_ids_are_refused(text, reason):
    with pytest.raises(CallerIdError, match=reason) as caught:
        parse_caller_id(text, "US", ("premium_rate",))
    assert "2025550199" not in caught.value.reason
    assert "9005550199" not in caught.value.reason


def test_a_campaign_without_caller_id_cannot_originate(gate):
    decision = gate.check(request("+14155550123", caller_id=None), NOW)
    assert decision.rule == "caller_id"
    assert decision.campaign_wide
    assert decision.retry_at is not None


def test_a_campaign_with_a_premium_rate_caller_id_cannot_originate(gate):
    decision = gate.check(request("+14155550123", caller_id='"Acme" <+19005550199>'), NOW)
    assert decision.rule == "caller_id"
    assert "premium_rate" in decision.detail
    assert "9005550199" not in decision.detail


def test_caller_id_does_not_apply_to_sms(gate):
    assert gate.check(request("+14155550123", caller_id=None, channel=Channel.SMS), NOW).allowed
