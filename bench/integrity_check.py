"""What the daemon's start-up integrity check (`PRAGMA quick_check`, `[database] check_at_start`) costs.

    python bench/integrity_check.py               # 1,000,000 leads, contacts, numbers and audit rows
    python bench/integrity_check.py --rows 200000

Builds a dialer database of that size (the real schema), then times `Database.check_integrity()` (what
`dialer run` does before anything else) and, for comparison, SQLite's full `PRAGMA integrity_check`.
The page cache is warm (the file was just written): on a cold cache the check reads the whole file
from the disk.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialer.store import Database


def _fill(conn: sqlite3.Connection, rows: int) -> None:
    conn.execute("INSERT INTO campaigns (id, state, created_at, updated_at) VALUES ('c', 'active', 0, 0)")
    conn.executemany("INSERT INTO contacts (id, created_at, updated_at) VALUES (?, 0, 0)", ((i,) for i in range(rows)))
    conn.executemany("INSERT INTO phone_numbers (number, contact_id, region, number_type, created_at) "
                     "VALUES (?, ?, 'US', 'mobile', 0)", ((f"+1415{i:07d}", i) for i in range(rows)))
    conn.executemany("INSERT INTO leads (campaign_id, number, created_at, updated_at) VALUES ('c', ?, 0, 0)",
                     ((f"+1415{i:07d}",) for i in range(rows)))
    conn.executemany("INSERT INTO audit (at, kind, campaign_id, number_hash, number_masked, verdict, rule, detail, "
                     "actor) VALUES (?, 'gate', 'c', ?, '+1415***1234', 'allow', 'ok', '', 'dialer')",
                     ((i, f"{i:064x}") for i in range(rows)))


async def run(path: Path, rows: int) -> tuple[float, float, float]:
    async with Database.open(path) as db, db.write() as tx:
        await tx.run(_fill, rows)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    async with Database.open(path, create=False) as db:
        start = time.perf_counter()
        await db.check_integrity()
        quick = time.perf_counter() - start
    conn = sqlite3.connect(path)
    start = time.perf_counter()
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    full = time.perf_counter() - start
    conn.close()
    return path.stat().st_size / 1e6, quick, full


def main() -> None:
    """Build the database, time both checks, print the figures with the command."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"# python bench/integrity_check.py {' '.join(sys.argv[1:])}\n# {platform.node()} "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}")
    with tempfile.TemporaryDirectory() as tmp:
        size_mb, quick, full = asyncio.run(run(Path(tmp) / "dialer.db", args.rows))
    print(f"{args.rows:,} rows per table, {size_mb:.0f} MB: quick_check (at daemon start) {quick:.2f} s, "
          f"integrity_check {full:.2f} s")


if __name__ == "__main__":
    main()
