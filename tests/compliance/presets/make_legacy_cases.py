"""Write legacy_window_cases.json.gz: the calling-window verdicts of the code before presets became data.

Each result is the verdict's first letter, and for a temporary block the seconds until retry_at.

Run once on main's code (before issue 18 changed it) with
`.venv/bin/python tests/compliance/presets/make_legacy_cases.py`; the test
`test_legacy_verdicts.py` replays every case against today's code, which must agree exactly.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dialer.compliance.model import GateRequest
from dialer.compliance.policy import CallingHours, CompliancePolicy
from dialer.compliance.rules.window import HolidayRule, HoursRule
from dialer.numbers import normalise

OUT = Path(__file__).with_name("legacy_window_cases.json.gz")

# One or more numbers per country preset, the US territories (aliases) and countries without a preset.
NUMBERS = {
    "US": ["+12125550123", "+13055550123", "+18085550123", "+19075550123", "+13125550123",
           "+14155550123"],
    "CA": ["+14165550123", "+16045550123"],
    "GB": ["+442079460123"], "DE": ["+4930123456"], "FR": ["+33142685300"], "IN": ["+919876543210"],
    "AU": ["+61212345678", "+61892345678"], "BR": ["+5511912345678", "+559221234567"], "CN": ["+8613912345678"],
    "PR": ["+17872345678"], "GU": ["+16713000000"],
    "JP": ["+81312345678"], "MX": ["+525512345678"], "ES": ["+34912345678"],
}

POLICIES = {
    "default": CompliancePolicy(),
    "no-holidays": CompliancePolicy(skip_holidays=False),
    "campaign-hours": CompliancePolicy(calling_hours=CallingHours(
        mon=("10:00-12:00", "13:00-19:30"), tue=("10:00-19:30",), wed=("10:00-19:30",),
        thu=("10:00-19:30",), fri=("10:00-16:00",), sat=("10:00-14:00",))),
    "override": CompliancePolicy(override_country_hours=True, skip_holidays=False, calling_hours=CallingHours(
        **dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), ("07:00-22:30",)))),
}


def instants() -> list[datetime]:
    """A week in steps of 97 minutes, and hourly over the day around each 2026 DST change and a holiday."""
    out = [datetime(2026, 6, 1, 0, 7, tzinfo=UTC) + timedelta(minutes=97 * i) for i in range(7 * 24 * 60 // 97)]
    for day in ("2026-03-08", "2026-03-29", "2026-04-05", "2026-10-04", "2026-10-25", "2026-11-01",
                "2026-12-25", "2026-07-04", "2026-01-01"):
        start = datetime.fromisoformat(day).replace(tzinfo=UTC) - timedelta(hours=12)
        out += [start + timedelta(minutes=60 * i + 30) for i in range(24)]
    return out


def _code(verdict: str, retry_at: float | None, now: float) -> str:
    return verdict[0] + ("" if retry_at is None else f"{retry_at - now:.0f}")


def main() -> None:
    """Judge every (number, policy, instant) with the window rules and write the cases."""
    rules = (HolidayRule(), HoursRule())
    times = instants()
    cases = []
    for region, raws in NUMBERS.items():
        for raw in raws:
            number = normalise(raw, region)
            for name, policy in POLICIES.items():
                request = GateRequest(number=number.e164, default_region=region, policy=policy, normalised=number)
                results = []
                for now in times:
                    verdicts = [rule.evaluate(request, number, now) for rule in rules]
                    results.append([_code(r.verdict.value, r.retry_at, now.timestamp()) for r in verdicts])
                cases.append({"number": number.e164, "region": region, "policy": name, "results": results})
    data = {"rules": [r.id for r in rules], "times": [t.timestamp() for t in times], "cases": cases}
    OUT.write_bytes(gzip.compress(json.dumps(data, separators=(",", ":")).encode(), mtime=0))
    print(f"{len(cases)} cases x {len(times)} instants -> {OUT}")


if __name__ == "__main__":
    main()
