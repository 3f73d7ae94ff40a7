"""Lead import at scale: `dialer import` of a 1,000,000-row CSV, timed as a user runs it.

    python bench/import_leads.py              # 1,000,000 rows
    python bench/import_leads.py --rows 100000

The CSV has a number column in mixed national/international formats, a name and two attribute
columns, 1% duplicates and 0.5% bad rows, like a real lead list. The import runs as a separate
process (`python -m dialer import`), so the figure includes start-up, reading, normalising
(phonenumbers, in worker processes), duplicate merging and the single write transaction.
"""

from __future__ import annotations

import argparse
import platform
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import DIALER

AREA_CODES = ("212", "312", "415", "617", "713", "206", "303", "404", "503", "602", "305", "702")


def write_csv(path: Path, rows: int, seed: int) -> None:
    """A seeded lead list of `rows` rows."""
    rng = random.Random(seed)
    formats = ("+1 {a} {b} {c}", "({a}) {b}-{c}", "{a}-{b}-{c}", "1{a}{b}{c}")
    with path.open("w") as handle:
        handle.write("phone,name,customer_id,segment\n")
        previous = []
        for i in range(rows):
            roll = rng.random()
            if roll < 0.005:
                number = "555-01"  # bad row: too short
            elif roll < 0.015 and previous:
                number = rng.choice(previous)  # duplicate
            else:
                number = rng.choice(formats).format(a=rng.choice(AREA_CODES), b=rng.randint(200, 999),
                                                    c=f"{rng.randint(0, 9999):04d}")
                if len(previous) < 1000:
                    previous.append(number)
            handle.write(f"{number},Customer {i},C{i:07d},{rng.choice(('new', 'returning', 'vip'))}\n")


def main() -> None:
    """Build the CSV, import it with the CLI, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"# python bench/import_leads.py {' '.join(sys.argv[1:])}")
    print(f"# {platform.node()} {platform.machine()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        csv = workdir / "leads.csv"
        write_csv(csv, args.rows, args.seed)
        config = workdir / "dialer.toml"
        config.write_text('[database]\npath = "dialer.db"\n[trunks.t]\nchannel = "PJSIP/{number}@t"\n'
                          '[campaigns.big]\ntrunk = "t"\ncaller_id = "+14155550100"\n')
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run([*DIALER, "import", "big", str(csv), "--config", str(config)],
                                capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if result.returncode != 0:
            raise SystemExit(result.stderr)
        conn = sqlite3.connect(workdir / "dialer.db")
        leads = conn.execute("SELECT COUNT(*) FROM leads").fetchone()[0]
        conn.close()
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(result.stdout.strip().splitlines()[-1])
        print(f"import: {args.rows} rows in {elapsed:.1f} s wall ({args.rows / elapsed:,.0f} rows/s), "
              f"{cpu:.1f} s CPU over all processes, {leads} leads in the database, "
              f"peak RSS of one process {after.ru_maxrss / 1024:.0f} MiB, CSV {csv.stat().st_size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
