"""The country presets moved from code into data files without changing one verdict.

`legacy_window_cases.json.gz` was written by `make_legacy_cases.py` on main's code before the
move: every (number, policy, instant) with the holiday and hours rules' verdicts and retry times.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dialer.compliance.model import GateRequest
from dialer.compliance.rules.window import HolidayRule, HoursRule
from dialer.numbers import normalise
from tests.compliance.presets.make_legacy_cases import POLICIES

CASES = json.loads(gzip.decompress(Path(__file__).with_name("legacy_window_cases.json.gz").read_bytes()))


def _code(verdict: str, retry_at: float | None, now: float) -> str:
    return verdict[0] + ("" if retry_at is None else f"{retry_at - now:.0f}")


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda c: f"{c['region']}-{c['number'][-4:]}-{c['policy']}")
def test_the_country_presets_give_the_old_verdicts(case):
    rules = (HolidayRule(), HoursRule())
    assert CASES["rules"] == [r.id for r in rules]
    number = normalise(case["number"], case["region"])
    request = GateRequest(number=number.e164, default_region=case["region"], policy=POLICIES[case["policy"]],
                          normalised=number)
    for ts, expected in zip(CASES["times"], case["results"], strict=True):
        now = datetime.fromtimestamp(ts, UTC)
        got = [_code(r.verdict.value, r.retry_at, ts) for r in (rule.evaluate(request, number, now) for rule in rules)]
        assert got == expected, f"{case['region']} {case['policy']} at {now.isoformat()}"


def test_the_fixture_holds_blocks_and_allows_for_every_country():
    # A fixture of only allows (or only blocks) would let any change pass.
    for region in {c["region"] for c in CASES["cases"]}:
        codes = {r[1][0] for c in CASES["cases"] if c["region"] == region for r in c["results"]}
        assert codes == {"a", "b"}, region
