"""The demo's lead list: numbers the compliance gate lets the demo call now and for the next minutes.

The demo runs with the real gate, calling window included, at any time of day. Rather than bend
the window, it asks the gate which numbers may be called now: US numbers in several time zones
first, and numbers of other countries (each with its own preset hours and holidays) when the US is
asleep. A number is used only if the gate allows it at every minute of the coming `horizon_s`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

import phonenumbers
from phonenumbers import PhoneNumberType

from dialer.compliance import CompliancePolicy, DncIndex, Gate, GateRequest, build_gate
from dialer.numbers import NumberError, PhoneNumber, normalise

# Area codes of several US time zones (Eastern to Hawaii).
US_AREA_CODES = ("212", "305", "312", "415", "503", "602", "713", "808", "907", "617")
# Other countries around the clock; their example fixed-line numbers are valid with any last digits.
OTHER_REGIONS = ("CA", "GB", "DE", "FR", "IN", "AU", "BR", "CN", "JP", "NZ", "MX", "ZA", "KR", "SG", "AE",
                 "AR", "ES", "IT", "PL", "SE", "PH", "TH", "ID")
STEP_S = 60


class NoOpenWindow(RuntimeError):
    """No candidate number may be called for the whole horizon (the demo will not bend the window)."""


def _us_candidates(rng: random.Random) -> Iterator[str]:
    while True:
        yield f"+1{rng.choice(US_AREA_CODES)}{rng.randint(201, 989)}{rng.randint(0, 9999):04d}"


def _region_candidates(region: str, rng: random.Random) -> Iterator[str]:
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.FIXED_LINE)
    if example is None:
        return
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    while True:
        yield f"{e164[:-4]}{rng.randint(0, 9999):04d}"


def _open_throughout(gate: Gate, request: GateRequest, now: datetime, horizon_s: int) -> bool:
    return all(gate.check(request, now + timedelta(seconds=offset)).allowed
               for offset in range(0, horizon_s + 1, STEP_S))


def open_numbers(count: int, seed: int, policy: CompliancePolicy, caller_id: str, now: datetime, *,
                 horizon_s: int = 900) -> list[PhoneNumber]:
    """`count` distinct valid numbers the gate allows at every minute from `now` to `now + horizon_s`.

    US numbers when any US zone is open; otherwise (or in addition, when too few) other countries'.
    Raises NoOpenWindow if no candidate qualifies.
    """
    rng = random.Random(seed)
    gate = build_gate(policy, DncIndex())

    def allowed(e164: str) -> PhoneNumber | None:
        try:
            number = normalise(e164, "US")
        except NumberError:
            return None
        request = GateRequest(number=number.e164, default_region="US", policy=policy, campaign="demo",
                              caller_id=caller_id, normalised=number)
        return number if _open_throughout(gate, request, now, horizon_s) else None

    sources: list[Iterator[str]] = [_us_candidates(rng)]
    sources += [_region_candidates(region, rng) for region in OTHER_REGIONS]
    # Keep the sources whose first numbers pass: a closed country costs a few probes, not thousands.
    live: list[Iterator[str]] = []
    for source in sources:
        if any(allowed(next(source)) is not None for _ in range(12)):
            live.append(source)
            if source is sources[0]:
                break  # the US is open: a US-only list, like a real US campaign's
    if not live:
        raise NoOpenWindow(f"no candidate number may be called for the next {horizon_s // 60} minutes")
    chosen: dict[str, PhoneNumber] = {}
    misses = 0
    while len(chosen) < count:
        number = allowed(next(live[(len(chosen) + misses) % len(live)]))
        if number is None or number.e164 in chosen:
            misses += 1
            if misses > 200 * count:
                raise NoOpenWindow("too few callable numbers found for the demo")
            continue
        chosen[number.e164] = number
    return list(chosen.values())
