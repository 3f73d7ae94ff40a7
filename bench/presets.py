"""Benchmark the gate's cost of named presets: one full check per number, with and without them.

    .venv/bin/python bench/presets.py                 # 20,000 numbers across US area codes
    .venv/bin/python bench/presets.py --numbers 2000  # a quicker run

The same requests (US numbers from every area code in the table, a Tuesday noon in New York, no
history) go through the standard chain with no named preset, then with us-states and
us-debt-collection. CPU time per check is the median of --repeat runs (process_time); it is a
comparison on this machine, not a threshold.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialer.compliance import CompliancePolicy, DncIndex, Gate, GateRequest, NumberHistory
from dialer.compliance.factory import default_rules
from dialer.compliance.preset_catalog import builtin_catalog
from dialer.numbers import normalise

NOON_NY = datetime(2026, 6, 2, 16, 0, tzinfo=UTC)


def requests(count: int, presets: tuple[str, ...]) -> list[GateRequest]:
    """`count` requests for US numbers cycling through the area codes."""
    codes = sorted(builtin_catalog().area_codes)
    policy = CompliancePolicy(presets=presets, skip_holidays=False)
    out = []
    for i in range(count):
        try:
            number = normalise(f"+1{codes[i % len(codes)]}555{i % 10000:04d}", "US")
        except ValueError:
            continue
        out.append(GateRequest(number.e164, "US", policy, campaign="c", caller_id="+14155550100",
                               history=NumberHistory(debt_id="D-1"), normalised=number))
    return out


def per_check_us(gate: Gate, batch: list[GateRequest], repeat: int) -> float:
    """Median CPU microseconds per check over `repeat` passes."""
    runs = []
    for _ in range(repeat):
        start = time.process_time()
        for request in batch:
            gate.check(request, NOON_NY)
        runs.append((time.process_time() - start) / len(batch) * 1e6)
    return statistics.median(runs)


def main() -> None:
    """Print per-check CPU time without and with presets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    gate = Gate(default_rules(DncIndex(), builtin_catalog()))
    print(f"$ .venv/bin/python bench/presets.py {shlex.join(sys.argv[1:])}")
    for presets in ((), ("us-states",), ("us-debt-collection", "us-states")):
        batch = requests(args.numbers, presets)
        per_check_us(gate, batch[:200], 1)  # warm the caches (zones, calendars)
        cost = per_check_us(gate, batch, args.repeat)
        print(f"presets {list(presets)!s:<40} {len(batch)} checks: {cost:.1f} µs CPU each")


if __name__ == "__main__":
    main()
