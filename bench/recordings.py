"""How fast the recordings archiver empties the spool: pending rows in, archived files and rows out.

    python bench/recordings.py                 # 500 recordings of 30 s, same file system and across
    python bench/recordings.py --files 100 --talk-s 120

Each recording is a real 8 kHz 16-bit mono WAV written by the simulator's MixMonitor stand-in, with a
pending row as the engine writes it at the call's end (MixMonitorStop seen, so no settle wait). The
archiver's own passes do the work: hash + WAV checks, the move (a hard link of the checked descriptor
on the same file system, a copy + fsync + rename across file systems), the metadata rows. Reports
recordings per second and MB/s, and how that compares with the rate at which calls producing such
recordings end at a given concurrency (calls live / talk time).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialer.clock import SystemClock
from dialer.compliance import Gate
from dialer.config import parse_config
from dialer.engine import Engine
from dialer.logs import configure_logging
from dialer.recordings import store
from dialer.recordings.archiver import Archiver
from dialer.sim.recordings import write_wav
from dialer.store import Database


async def run(work: Path, archive_dir: Path, files: int, talk_s: float) -> tuple[float, int]:
    spool = work / "spool"
    config = parse_config({
        "database": {"path": str(work / "dialer.db")},
        "recordings": {"enabled": True, "spool_dir": str(spool), "archive_dir": str(archive_dir)},
        "trunks": {"t": {"channel": "Local/{number}@x"}},
        "campaigns": {"c1": {"trunk": "t", "caller_id": "+14155550100"}},
    }, require_secret=False)
    now = time.time()
    rows = []
    for i in range(files):
        call_id = f"c{i:020x}"
        write_wav(spool / f"{call_id}.wav", round(talk_s * 8000))
        rows.append(store.NewPending(call_id, "c1", f"{spool}/{call_id}.wav", True, talk_s, now))
    async with Database.open(config.database.path) as db:
        async with db.write() as tx:
            await tx.execute("INSERT INTO campaigns (id, created_at, updated_at) VALUES ('c1', 0, 0)")
            for i, row in enumerate(rows):
                number = f"+1415{i:07d}"
                contact = await tx.execute("INSERT INTO contacts (created_at, updated_at) VALUES (0, 0)")
                await tx.execute("INSERT INTO phone_numbers (number, contact_id, region, number_type, created_at) "
                                 "VALUES (?, ?, 'US', 'fixed_line', 0)", (number, contact))
                lead = await tx.execute("INSERT INTO leads (campaign_id, number, created_at, updated_at) "
                                        "VALUES ('c1', ?, 0, 0)", (number,))
                await tx.execute("INSERT INTO attempts (call_id, lead_id, campaign_id, number, node, audit_id, "
                                 "state, created_at) VALUES (?, ?, 'c1', ?, 'n', 0, 'ended', 0)",
                                 (row.call_id, lead, number))
            await tx.run(store.insert_pending, rows)
        archiver = Archiver(Engine(config, db, Gate(), SystemClock(), await db.hash_key()), db, SystemClock())
        start = time.perf_counter()
        while await archiver.run_once() is not None:
            pass
        elapsed = time.perf_counter() - start
        done = await db.fetchone("SELECT COUNT(*) FROM recordings WHERE status = 'archived'")
    return elapsed, int(done[0]) if done else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--talk-s", type=float, default=30.0)
    args = parser.parse_args()
    configure_logging("warning", "console")
    mb = args.files * (44 + args.talk_s * 16000) / 1e6
    print(f"{args.files} recordings of {args.talk_s:g} s ({mb:.0f} MB), os.cpu_count()={os.cpu_count()}")
    targets = [("same file system (link of the checked fd + rename)", None)]
    if os.path.isdir("/dev/shm"):
        targets.append(("across file systems (copy + fsync + rename)", Path("/dev/shm")))
    for label, other in targets:
        with tempfile.TemporaryDirectory() as work, tempfile.TemporaryDirectory(dir=other) as far:
            archive_dir = Path(far) / "archive" if other else Path(work) / "archive"
            elapsed, done = asyncio.run(run(Path(work), archive_dir, args.files, args.talk_s))
        assert done == args.files, f"only {done} archived"
        rate = done / elapsed
        print(f"  {label}: {rate:,.0f} recordings/s, {mb / elapsed:,.0f} MB/s "
              f"= the end rate of {rate * args.talk_s:,.0f} live calls of {args.talk_s:g} s")


if __name__ == "__main__":
    main()
