"""Benchmark the CRM side on a database of realistic size: the report, a contact's history, and an erasure.

    .venv/bin/python bench/crm.py                     # 200,000 attempts over 100,000 leads, 4 campaigns
    .venv/bin/python bench/crm.py --attempts 1000000  # a bigger store
    .venv/bin/python bench/crm.py --outbox 1000000    # the outbox at its default max_rows

A seeded synthetic store is written straight to SQLite (contacts, numbers with time zones, leads,
ended attempts with dispositions and talk times, their audit rows, some blocks). Then, timed:
`campaign_report` for all campaigns and for one over the last week, `contact_history` of one
contact, `forget` of one number (one transaction with secure_delete, and the checkpoint; it reads
every outbox payload, since a formatted spelling of the number has no fixed substring to index).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialer.crm import service
from dialer.crm import store as crm
from dialer.numbers import number_hash
from dialer.recordings.config import RecordingsConfig
from dialer.reports import campaign_report
from dialer.store import Database

ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
OUTCOMES = (("answered", 0.35), ("busy", 0.15), ("no_answer", 0.3), ("machine", 0.1), ("congestion", 0.05),
            ("abandoned", 0.01), ("opted_out", 0.02), ("failed", 0.02))
CAMPAIGNS = ("spring", "summer", "autumn", "winter")


def seed(db_path: Path, attempts: int, leads: int, outbox: int = 0) -> str:
    """Write the synthetic store with plain sqlite3 (fast, one transaction); returns a sample number."""
    import sqlite3

    rng = random.Random(7)
    now = time.time()
    conn = sqlite3.connect(db_path)
    key = bytes.fromhex(conn.execute("SELECT value FROM meta WHERE key = 'number_hash_key'").fetchone()[0])
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO campaigns (id, state, created_at, updated_at) VALUES (?, 'active', ?, ?)",
                     [(c, now, now) for c in CAMPAIGNS])
    numbers = [f"+1415{2000000 + i:07d}" for i in range(leads)]
    conn.executemany("INSERT INTO contacts (id, name, attributes, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                     [(i + 1, f"Person {i}", '{"plan": "gold"}', now, now) for i in range(leads)])
    conn.executemany("INSERT INTO phone_numbers (number, contact_id, region, number_type, zones, created_at) "
                     "VALUES (?, ?, 'US', 'fixed_line_or_mobile', ?, ?)",
                     [(n, i + 1, ZONES[i % 4], now) for i, n in enumerate(numbers)])
    conn.executemany("INSERT INTO leads (id, campaign_id, number, status, attempts, created_at, updated_at) "
                     "VALUES (?, ?, ?, 'finished', 0, ?, ?)",
                     [(i + 1, CAMPAIGNS[i % 4], n, now, now) for i, n in enumerate(numbers)])
    names, weights = zip(*OUTCOMES, strict=True)
    rows, audit = [], []
    for a in range(attempts):
        lead = rng.randrange(leads)
        created = now - rng.uniform(0, 40 * 86400)
        disposition = rng.choices(names, weights)[0]
        talk = rng.uniform(5, 300) if disposition == "answered" else None
        rows.append((f"c{a:012d}", lead + 1, CAMPAIGNS[lead % 4], numbers[lead], a + 1, disposition, created,
                     created + (talk or 20), talk))
        audit.append((a + 1, created, CAMPAIGNS[lead % 4], lead + 1, f"c{a:012d}",
                      number_hash(numbers[lead], key), "+14*******00"))
    conn.executemany("INSERT INTO audit (id, at, kind, campaign_id, lead_id, call_id, number_hash, number_masked, "
                     "verdict, rule, detail, actor) VALUES (?, ?, 'gate', ?, ?, ?, ?, ?, 'allow', 'allow', "
                     "'all rules allow', 'dialer')", audit)
    conn.executemany("INSERT INTO attempts (call_id, lead_id, campaign_id, number, node, audit_id, state, "
                     "disposition, created_at, ended_at, talk_s) VALUES (?, ?, ?, ?, 'b', ?, 'ended', ?, ?, ?, ?)",
                     rows)
    # Event payloads as the MQTT outbox keeps them (masked numbers), which forget reads one by one.
    conn.executemany("INSERT INTO outbox (topic, payload, created_at, published_at) VALUES (?, ?, ?, ?)",
                     [(f"dialer/calls/c{o:012d}/ended", f'{{"call_id": "c{o:012d}", "campaign": "spring", '
                       f'"number": "+14*******{o % 100:02d}", "disposition": "answered", "talk_s": 42.5, '
                       f'"at": "2026-12-01T10:00:00Z"}}', now, now) for o in range(outbox)])
    conn.execute("COMMIT")
    conn.close()
    return numbers[0]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--attempts", type=int, default=200_000)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--outbox", type=int, default=100_000, help="MQTT outbox rows (forget reads each)")
    parser.add_argument("--dir", type=Path, default=Path("bench/out/crm"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / "crm.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    async with Database.open(path) as db:
        await db.hash_key()
    t = time.perf_counter()
    sample = seed(path, args.attempts, args.leads, args.outbox)
    print(f"seeded {args.attempts:,} attempts over {args.leads:,} leads, {args.outbox:,} outbox rows in "
          f"{time.perf_counter() - t:.1f} s")
    async with Database.open(path) as db:
        now = time.time()
        for label, kwargs in (("report, all campaigns, all time", {}),
                              ("report, one campaign, last 7 days", {"campaign": "spring", "since": now - 7 * 86400})):
            t = time.perf_counter()
            data = await campaign_report(db, **kwargs)  # type: ignore[arg-type]
            print(f"{label}: {time.perf_counter() - t:.2f} s ({data['calls']:,} calls)")
        t = time.perf_counter()
        history = await service.history(db, "number", sample, now)
        print(f"contact history: {(time.perf_counter() - t) * 1000:.1f} ms ({len(history.attempts)} attempts)")
        async with db.read() as tx:
            found = await crm.search_contacts(tx, name="person 99999")
        print(f"search by name: {len(found)} found")
        t = time.perf_counter()
        result, _ = await service.forget(db, sample, "bench", now, RecordingsConfig())
        print(f"forget: {(time.perf_counter() - t) * 1000:.1f} ms ({result.attempts} attempts, "
              f"{result.audit_rows} audit rows)")


if __name__ == "__main__":
    asyncio.run(main())
