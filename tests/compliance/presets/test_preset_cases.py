"""A table of cases per preset: number, time and history -> the deciding rule's verdict and what it cites.

Every case runs the whole standard chain with `explain` (as `dialer check` does) and looks at one
rule's result, so a case also shows that no other rule hides the preset's verdict. Times are in the
callee's zone, or UTC around the 2026 DST changes (US: 8 Mar, 1 Nov; UK: 29 Mar).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pytest

from dialer.compliance import CallingHours, CompliancePolicy, ConsentRecord, DncIndex, Gate, NumberHistory
from dialer.compliance.factory import default_rules
from dialer.compliance.model import AbandonStats, GateRequest, RuleResult
from dialer.compliance.preset_catalog import PresetCatalog, builtin_catalog
from dialer.numbers import normalise
from tests.compliance.helpers import CALLER_ID, local, utc

ALL_DAY = CallingHours(**dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), ("00:00-24:00",)))
H = 3600.0


def policy(*presets: str, override: bool = False) -> CompliancePolicy:
    """Every other rule loose, so the preset's rule is what decides."""
    return CompliancePolicy(
        presets=presets, skip_holidays=False, max_attempts_per_24h=50, max_attempts_per_7d=50,
        min_attempt_gap_s=0, abandoned_cooloff_s=0, max_abandon_rate=1.0,
        **({"calling_hours": ALL_DAY, "override_country_hours": True} if override else {}),
    )


@dataclass(frozen=True)
class Case:
    """One row of the table."""

    name: str
    presets: tuple[str, ...]
    number: str
    when: datetime
    rule: str
    verdict: str
    cites: str = ""  # a fragment the result's detail must contain
    attempts_h_ago: tuple[float, ...] = ()  # attempts to the number, hours before `when`
    debt_attempts_h_ago: tuple[float, ...] | None = None  # None: the lead has no debt_id
    abandoned_h_ago: float | None = None
    consent: bool = False
    abandon: AbandonStats = field(default_factory=AbandonStats)
    override: bool = False


FL, OK, MD, WA, TX, MS, NY = (
    "+13055550123", "+14055550123", "+13015550123", "+12065550123", "+12145550123", "+16015550123", "+12125550123")
STATES = ("us-states",)
NY_TZ, CHI, LA = "America/New_York", "America/Chicago", "America/Los_Angeles"
TUE = (2026, 6, 2)
SUN = (2026, 6, 7)

US_STATES = [
    Case("fl-after-8pm", STATES, FL, local(NY_TZ, *TUE, 20, 0), "window.hours", "block",
         "outside 08:00–20:00 in Florida (Fla. Stat. 501.059), preset us-states"),
    Case("fl-before-8pm", STATES, FL, local(NY_TZ, *TUE, 19, 59), "window.hours", "allow"),
    Case("fl-before-8am", STATES, FL, local(NY_TZ, *TUE, 7, 59), "window.hours", "block", "in Florida"),
    Case("fl-at-8am", STATES, FL, local(NY_TZ, *TUE, 8, 0), "window.hours", "allow"),
    # 2026-03-08 00:30 UTC is 19:30 EST on the 7th; after the spring change 00:30 UTC is 20:30 EDT.
    Case("fl-dst-before-spring", STATES, FL, utc(2026, 3, 8, 0, 30), "window.hours", "allow"),
    Case("fl-dst-after-spring", STATES, FL, utc(2026, 3, 9, 0, 30), "window.hours", "block", "in Florida"),
    # The fall change (1 Nov): 00:30 UTC is 20:30 EDT on 31 Oct, then 19:30 EST on 1 Nov.
    Case("fl-dst-before-fall", STATES, FL, utc(2026, 11, 1, 0, 30), "window.hours", "block", "in Florida"),
    Case("fl-dst-after-fall", STATES, FL, utc(2026, 11, 2, 0, 30), "window.hours", "allow"),
    Case("fl-without-the-preset", (), FL, local(NY_TZ, *TUE, 20, 30), "window.hours", "allow"),
    Case("ok-after-8pm", STATES, OK, local(CHI, *TUE, 20, 15), "window.hours", "block",
         "in Oklahoma (15 Okla. Stat. 775C.4"),
    Case("md-after-8pm", STATES, MD, local(NY_TZ, *TUE, 20, 0), "window.hours", "block",
         "in Maryland (Md. Code, Com. Law 14-4503"),
    Case("wa-after-8pm", STATES, WA, local(LA, *TUE, 20, 0), "window.hours", "block", "in Washington (RCW 80.36.390"),
    Case("tx-sunday-morning", STATES, TX, local(CHI, *SUN, 11, 0), "window.hours", "block",
         "outside 12:00–21:00 in Texas (Tex. Bus. & Com. Code 301.051"),
    Case("tx-sunday-noon", STATES, TX, local(CHI, *SUN, 12, 0), "window.hours", "allow"),
    Case("ms-sunday", STATES, MS, local(CHI, *SUN, 10, 0), "window.hours", "block",
         "outside closed all day in Mississippi (Miss. Code 77-3-725"),
    Case("ny-federal-hours-only", STATES, NY, local(NY_TZ, *TUE, 20, 30), "window.hours", "allow"),
    Case("ny-after-9pm-federal", STATES, NY, local(NY_TZ, *TUE, 21, 0), "window.hours", "block", "(US preset)"),
    Case("fl-fourth-call-in-24h", STATES, FL, local(NY_TZ, *TUE, 12, 0), "preset.cap", "block",
         "in Florida (Fla. Stat. 501.059(8)(b)), preset us-states", attempts_h_ago=(1, 5, 23)),
    Case("fl-third-call-in-24h", STATES, FL, local(NY_TZ, *TUE, 12, 0), "preset.cap", "allow",
         attempts_h_ago=(1, 5, 25)),
    Case("ok-fourth-call-in-24h", STATES, OK, local(CHI, *TUE, 12, 0), "preset.cap", "block", "in Oklahoma",
         attempts_h_ago=(2, 3, 4)),
    Case("ny-no-state-cap", STATES, NY, local(NY_TZ, *TUE, 12, 0), "preset.cap", "allow", attempts_h_ago=(2, 3, 4)),
    Case("fl-no-consent", STATES, FL, local(NY_TZ, *TUE, 12, 0), "preset.consent", "block",
         "consent required in Florida (Fla. Stat. 501.059(8)(a)"),
    Case("fl-with-consent", STATES, FL, local(NY_TZ, *TUE, 12, 0), "preset.consent", "allow", consent=True),
    Case("ny-consent-not-required", STATES, NY, local(NY_TZ, *TUE, 12, 0), "preset.consent", "allow"),
]

CN = "+8613912345678"
SH = "Asia/Shanghai"
INSURANCE = ("cn-insurance",)
CN_INSURANCE = [
    Case("cn-9pm", INSURANCE, CN, local(SH, *TUE, 21, 0), "window.hours", "block",
         "outside 09:00–21:00 in China (保监发〔2013〕40号), preset cn-insurance",
         override=True),
    Case("cn-before-9pm", INSURANCE, CN, local(SH, *TUE, 20, 59), "window.hours", "allow", override=True),
    Case("cn-before-9am", INSURANCE, CN, local(SH, *TUE, 8, 59), "window.hours", "block", "in China", override=True),
    Case("cn-sunday-with-own-hours", INSURANCE, CN, local(SH, *SUN, 10, 0), "window.hours", "allow", override=True),
    Case("cn-saturday-country-preset", INSURANCE, CN, local(SH, 2026, 6, 6, 10, 0), "window.hours", "block",
         "(CN preset)"),
]

US_DEBT = ("us-debt-collection",)
DEBT = [
    Case("debt-eighth-call-in-7-days", US_DEBT, NY, local(NY_TZ, *TUE, 12, 0), "preset.cap", "block",
         "12 CFR 1006.14(b)(2)(i)), preset us-debt-collection", debt_attempts_h_ago=(1, 20, 40, 60, 80, 100, 167)),
    Case("debt-seventh-call-in-7-days", US_DEBT, NY, local(NY_TZ, *TUE, 12, 0), "preset.cap", "allow",
         debt_attempts_h_ago=(1, 20, 40, 60, 80, 169)),
    Case("debt-lead-without-debt-id", US_DEBT, NY, local(NY_TZ, *TUE, 12, 0), "preset.cap", "block",
         "the lead has no debt_id attribute"),
    Case("debt-9pm", US_DEBT, NY, local(NY_TZ, *TUE, 21, 0), "window.hours", "block",
         "in the US (12 CFR 1006.6(b)(1)(i)), preset us-debt-collection"),
    Case("debt-sunday-morning", US_DEBT, NY, local(NY_TZ, *SUN, 8, 0), "window.hours", "allow"),
]

GB = "+442079460123"
OFCOM = ("gb-ofcom",)
GB_OFCOM = [
    Case("gb-abandoned-71h-ago", OFCOM, GB, local("Europe/London", *TUE, 12, 0), "preset.abandoned", "block",
         "no new call for 72 h in the UK (Ofcom persistent misuse policy, A1.39), preset gb-ofcom", abandoned_h_ago=71),
    Case("gb-abandoned-72h-ago", OFCOM, GB, local("Europe/London", *TUE, 12, 0), "preset.abandoned", "allow",
         abandoned_h_ago=72),
    # Across the UK spring change (29 Mar) 72 hours are 72 real hours, not three wall-clock days.
    Case("gb-dst-abandoned-71h59", OFCOM, GB, utc(2026, 3, 31, 11, 59), "preset.abandoned", "block",
         "in the UK", abandoned_h_ago=71 + 59 / 60),
    Case("gb-dst-abandoned-72h", OFCOM, GB, utc(2026, 3, 31, 12, 0), "preset.abandoned", "allow", abandoned_h_ago=72),
    Case("gb-abandon-rate-3pc", OFCOM, GB, local("Europe/London", *TUE, 12, 0), "preset.abandon_rate", "block",
         "at or over 3.0% in the UK", abandon=AbandonStats(3, 100, 3, 100)),
    Case("gb-abandon-rate-2pc", OFCOM, GB, local("Europe/London", *TUE, 12, 0), "preset.abandon_rate", "allow",
         abandon=AbandonStats(2, 100, 2, 100)),
    Case("us-number-under-gb-ofcom", OFCOM, NY, local(NY_TZ, *TUE, 12, 0), "preset.abandoned", "allow",
         abandoned_h_ago=1),
]

CASES = US_STATES + CN_INSURANCE + DEBT + GB_OFCOM


def judge(case: Case, catalog: PresetCatalog | None = None) -> RuleResult:
    """The case's rule result, from the whole chain with every rule explained."""
    number = normalise(case.number, "US")
    ts = case.when.timestamp()
    history = NumberHistory(
        attempt_times=tuple(ts - h * H for h in case.attempts_h_ago),
        last_abandoned_at=None if case.abandoned_h_ago is None else ts - case.abandoned_h_ago * H,
        debt_id=None if case.debt_attempts_h_ago is None else "D-1",
        debt_attempt_times=tuple(ts - h * H for h in case.debt_attempts_h_ago or ()),
    )
    consents = (ConsentRecord("web-form:2026", ts - 86_400),) if case.consent else ()
    request = GateRequest(number=number.e164, default_region="US", policy=policy(*case.presets, override=case.override),
                          campaign="c1", caller_id=CALLER_ID, history=history, normalised=number, consents=consents,
                          abandon_stats=case.abandon)
    decision = Gate(default_rules(DncIndex(), catalog or builtin_catalog())).check(request, case.when, explain=True)
    return next(r for r in decision.results if r.rule == case.rule)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_preset_case(case):
    result = judge(case)
    assert result.verdict.value == case.verdict, result.detail
    assert case.cites in result.detail


def test_every_builtin_sector_and_state_preset_has_cases():
    covered = {p for case in CASES for p in case.presets}
    assert covered == {"us-states", "cn-insurance", "us-debt-collection", "gb-ofcom"}


def test_an_area_code_in_two_states_gets_the_stricter_states_rules():
    builtin = builtin_catalog()
    overlay = PresetCatalog(builtin.presets, {**builtin.area_codes, "212": ("FL", "NY")}, builtin.files)
    case = Case("ny-fl-overlay", STATES, NY, local(NY_TZ, *TUE, 20, 30), "window.hours", "block")
    assert "in Florida (Fla. Stat. 501.059" in judge(case, overlay).detail
    assert judge(case).verdict.value == "allow"  # New York alone: federal hours


def test_a_number_whose_area_code_places_no_state_gets_every_states_rules():
    catalog = builtin_catalog()
    toll_free = normalise("+18005550123", "US")
    assert set(catalog.states_of(toll_free)) >= {"FL", "OK", "MD", "WA", "TX", "MS", "RI", "LA"}
    case = Case("toll-free-sunday", STATES, "+18005550123", utc(2026, 6, 7, 17, 0), "window.hours", "block")
    result = judge(case)
    assert result.verdict.value == "block"
    assert "preset us-states" in result.detail
