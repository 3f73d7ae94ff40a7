"""Write `us_area_codes.csv` (area code -> candidate US states) from phonenumbers' geocoder data.

`python -m dialer.compliance.presets.make_area_codes` regenerates it; the gate never imports this
module, it reads the CSV. Every state the geocoder names for any prefix of an area code is a
candidate, so an area code the geocoder places in two states lists both (the gate then applies the
strictest of their rules).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from phonenumbers.geodata import GEOCODE_DATA

OUT = Path(__file__).with_name("us_area_codes.csv")

STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA", "Colorado": "CO",
    "Connecticut": "CT", "Delaware": "DE", "Washington D.C.": "DC", "Florida": "FL", "Georgia": "GA",
    "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA", "Kansas": "KS",
    "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA",
    "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO", "Montana": "MT",
    "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM",
    "New York": "NY", "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK",
    "Oregon": "OR", "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD",
    "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA",
    "Washington State": "WA", "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
}
CODES = frozenset(STATES.values())


def main() -> None:
    """Collect the states per area code and write the CSV, sorted by area code."""
    found: dict[str, set[str]] = defaultdict(set)
    for prefix, names in GEOCODE_DATA.items():
        text = names.get("en") if prefix.startswith("1") and len(prefix) >= 4 else None
        if not text:
            continue
        last = text.rsplit(", ", 1)[-1]
        state = last if last in CODES else STATES.get(last)
        if state is not None:
            found[prefix[1:4]].add(state)
    with OUT.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["area_code", "states"])
        for code in sorted(found):
            writer.writerow([code, " ".join(sorted(found[code]))])
    print(f"{len(found)} area codes -> {OUT}")


if __name__ == "__main__":
    main()
