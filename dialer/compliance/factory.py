"""Assemble the gate's chain of rules in a sensible order: cheap and permanent first."""

from __future__ import annotations

from dialer.compliance.dnc_index import DncIndex
from dialer.compliance.gate import Gate, Rule
from dialer.compliance.policy import CompliancePolicy
from dialer.compliance.preset_catalog import PresetCatalog, builtin_catalog
from dialer.compliance.rules.abandon import AbandonRateRule
from dialer.compliance.rules.caller_id import CallerIdRule
from dialer.compliance.rules.consent import ConsentRule
from dialer.compliance.rules.dnc import (
    CampaignListRule,
    ErasedRule,
    InternalListRule,
    OptOutRule,
    RegistryAgeRule,
    RegistryRule,
)
from dialer.compliance.rules.frequency import AbandonedCooloffRule, DailyCapRule, GapRule, WeeklyCapRule
from dialer.compliance.rules.number import CountryRule, NumberTypeRule
from dialer.compliance.rules.presets import (
    PresetAbandonRateRule,
    PresetCapRule,
    PresetConsentRule,
    PresetCooloffRule,
)
from dialer.compliance.rules.window import HolidayRule, HoursRule


def default_rules(dnc_index: DncIndex, catalog: PresetCatalog | None = None) -> list[Rule]:
    """The standard chain after the number screen, in order.

    Permanent, per-number blocks come first so that the audit records the lasting reason (a
    number on a DNC list is reported as such, not as "outside hours"); then campaign-wide and
    temporary ones; the calling window, the one that needs a time search to say when, comes last.
    Each rule of the named presets (`catalog`, default the built-in one) sits beside its twin.
    """
    catalog = catalog or builtin_catalog()
    return [
        NumberTypeRule(),
        CountryRule(),
        ErasedRule(dnc_index),
        OptOutRule(dnc_index),
        InternalListRule(dnc_index),
        CampaignListRule(dnc_index),
        RegistryRule(dnc_index),
        ConsentRule(),
        PresetConsentRule(catalog),
        RegistryAgeRule(dnc_index),
        CallerIdRule(),
        AbandonRateRule(),
        PresetAbandonRateRule(catalog),
        AbandonedCooloffRule(),
        PresetCooloffRule(catalog),
        GapRule(),
        DailyCapRule(),
        WeeklyCapRule(),
        PresetCapRule(catalog),
        HolidayRule(catalog),
        HoursRule(catalog),
    ]


def build_gate(policy: CompliancePolicy, dnc_index: DncIndex, *, extra_rules: tuple[Rule, ...] = (),
               catalog: PresetCatalog | None = None) -> Gate:
    """The standard gate; `policy` (the global one) is a floor no request's policy can go below."""
    return Gate([*default_rules(dnc_index, catalog), *extra_rules], floor=policy)
