"""Compliance policy: safe defaults, and campaigns that can only narrow the global policy."""

from __future__ import annotations

import pytest

from dialer.compliance import CallingHours, CompliancePolicy, PolicyError, narrow, tighten
from dialer.compliance.policy import _MERGES
from dialer.compliance.rules.window import effective_window


def test_every_policy_field_has_a_narrowing_rule():
    assert set(_MERGES) == set(CompliancePolicy.model_fields)


def test_defaults_are_the_safe_ones():
    policy = CompliancePolicy()
    assert "premium_rate" in policy.blocked_number_types
    assert policy.registry_max_age_days == 31
    assert policy.registry_grace_days == 0
    assert policy.max_abandon_rate == 0.03
    assert policy.abandoned_cooloff_s == 72 * 3600
    assert policy.skip_holidays
    assert not policy.override_country_hours


def test_a_campaign_may_narrow_the_global_policy():
    campaign = narrow(CompliancePolicy(), {"max_attempts_per_24h": 1, "require_consent": True})
    assert campaign.max_attempts_per_24h == 1
    assert campaign.require_consent


@pytest.mark.parametrize(
    "override",
    [
        {"max_attempts_per_24h": 10},
        {"max_abandon_rate": 0.05},
        {"registry_max_age_days": 60},
        {"min_attempt_gap_s": 0},
        {"abandoned_cooloff_s": 3600},
        {"skip_holidays": False},
        {"blocked_number_types": ("pager",)},
    ],
)
def test_a_campaign_may_not_loosen_the_global_policy(override):
    with pytest.raises(PolicyError, match=next(iter(override))):
        narrow(CompliancePolicy(), override)


def test_a_campaign_may_not_call_countries_the_global_policy_excludes():
    base = CompliancePolicy(allowed_countries=("US", "CA"))
    assert narrow(base, {"allowed_countries": ("us",)}).allowed_countries == ("US",)
    with pytest.raises(PolicyError, match="allowed_countries"):
        narrow(base, {"allowed_countries": ("US", "GB")})
    with pytest.raises(PolicyError, match="allowed_countries"):
        narrow(base, {"allowed_countries": ()})


def test_campaign_hours_wider_than_the_global_hours_are_refused():
    base = CompliancePolicy(calling_hours=CallingHours(mon=("09:00-18:00",)))
    with pytest.raises(PolicyError, match="calling_hours"):
        narrow(base, {"calling_hours": {"mon": ["08:00-18:00"]}})
    assert narrow(base, {"calling_hours": {"mon": ["10:00-12:00"]}}).calling_hours.mon == ("10:00-12:00",)


def test_campaign_hours_only_narrow_the_country_preset():
    policy = CompliancePolicy(calling_hours=CallingHours(mon=("06:00-23:00",)))
    window, label = effective_window("US", policy)
    assert window.to_ranges()["mon"] == ("08:00-21:00",)
    assert "within the US preset" in label


def test_the_explicit_override_flag_lets_campaign_hours_replace_the_preset():
    policy = CompliancePolicy(calling_hours=CallingHours(mon=("07:00-22:00",)), override_country_hours=True)
    window, label = effective_window("US", policy)
    assert window.to_ranges()["mon"] == ("07:00-22:00",)
    assert "overriding" in label


def test_tighten_never_returns_a_policy_looser_than_its_floor():
    floor = CompliancePolicy(max_attempts_per_24h=2, allowed_countries=("US",))
    loose = CompliancePolicy(max_attempts_per_24h=9, require_consent=True)
    strict = tighten(floor, loose)
    assert strict.max_attempts_per_24h == 2
    assert strict.allowed_countries == ("US",)
    assert strict.require_consent


def test_tighten_with_disjoint_countries_allows_none():
    strict = tighten(CompliancePolicy(allowed_countries=("US",)), CompliancePolicy(allowed_countries=("GB",)))
    assert strict.allowed_countries == ("XX",)


def test_an_override_in_the_floor_does_not_lift_a_campaigns_presets():
    floor = CompliancePolicy(calling_hours=CallingHours(sun=("00:00-24:00",)), override_country_hours=True)
    strict = tighten(floor, CompliancePolicy())
    window, _ = effective_window("US", strict)
    assert window.to_ranges()["sun"] == ("08:00-21:00",)


def test_unknown_number_types_and_regions_are_config_errors():
    with pytest.raises(ValueError, match="number type"):
        CompliancePolicy(blocked_number_types=("premium",))
    with pytest.raises(ValueError, match="region"):
        CompliancePolicy(allowed_countries=("USA",))
