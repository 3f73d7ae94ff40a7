"""Consent: records with source, time, scope, expiry and revocation; required per campaign."""

from __future__ import annotations

from dialer.compliance import Channel, ConsentRecord

from .helpers import OPEN_POLICY, request, utc

NOW = utc(2025, 7, 8, 15)
T = NOW.timestamp()
DAY = 86400.0
REQUIRED = OPEN_POLICY.model_copy(update={"require_consent": True})


def check(gate, *records, campaign="spring", policy=REQUIRED, **kw):
    return gate.check(request("+12025550123", policy=policy, campaign=campaign, consents=records, **kw), NOW)


def test_a_campaign_that_requires_consent_does_not_call_without_it(gate):
    decision = check(gate)
    assert (decision.rule, decision.detail) == ("consent", "consent required: no consent record")
    assert decision.retry_at is None


def test_a_valid_consent_for_all_campaigns_allows(gate):
    assert check(gate, ConsentRecord("web-form", T - DAY)).allowed


def test_a_consent_scoped_to_another_campaign_does_not_count(gate):
    decision = check(gate, ConsentRecord("web-form", T - DAY, scope="autumn"))
    assert decision.rule == "consent"
    assert "none of 1 consent record(s) is valid" in decision.detail
    assert check(gate, ConsentRecord("web-form", T - DAY, scope="spring")).allowed


def test_an_expired_consent_does_not_count(gate):
    assert check(gate, ConsentRecord("web-form", T - 10 * DAY, expires_at=T - 1)).rule == "consent"
    assert check(gate, ConsentRecord("web-form", T - 10 * DAY, expires_at=T + 1)).allowed


def test_a_consent_given_in_the_future_does_not_count_yet(gate):
    assert check(gate, ConsentRecord("web-form", T + 60)).rule == "consent"


def test_a_revoked_consent_blocks_even_where_consent_is_not_required(gate):
    revoked = ConsentRecord("web-form", T - 10 * DAY, revoked_at=T - DAY)
    decision = check(gate, revoked, policy=OPEN_POLICY)
    assert (decision.rule, decision.detail) == ("consent", "consent revoked at 2025-07-07T15:00:00Z")


def test_a_revocation_voids_older_consents_from_other_sources(gate):
    old = ConsentRecord("trade-show", T - 30 * DAY)
    revoked = ConsentRecord("web-form", T - 10 * DAY, revoked_at=T - DAY)
    assert check(gate, old, revoked).rule == "consent"
    renewed = ConsentRecord("call-recording", T - 3600)
    assert check(gate, old, revoked, renewed).allowed


def test_a_revocation_takes_effect_at_its_time_not_before(gate):
    pending = ConsentRecord("web-form", T - DAY, revoked_at=T + 3600)
    assert check(gate, pending).allowed


def test_consent_for_sms_only_does_not_cover_calls(gate):
    sms_only = ConsentRecord("sms-keyword", T - DAY, channel=Channel.SMS)
    assert check(gate, sms_only).rule == "consent"
    assert check(gate, sms_only, channel=Channel.SMS).allowed


def test_the_allow_detail_names_source_scope_and_expiry(gate):
    decision = gate.check(
        request(
            "+12025550123", policy=REQUIRED, campaign="spring",
            consents=(ConsentRecord("web-form", T - DAY, scope="spring", expires_at=T + DAY),),
        ),
        NOW,
        explain=True,
    )  # fmt: skip
    detail = next(r.detail for r in decision.results if r.rule == "consent")
    assert (
        detail
        == "consent from web-form at 2025-07-07T15:00:00Z for campaign spring, until 2025-07-09T15:00:00Z"
    )
