"""What the survey part of `dialer report` costs: reading every answer of a campaign and counting
per question, for N surveys of three answers each in a real SQLite file.

    python bench/survey_report.py [N ...]      # default: 10000 100000

Prints, per N, the CPU seconds (best of 3) of dialer.reports.surveys.survey_report, and the rows read.
The wallboard does not compute it (campaign_report(surveys=False)); `dialer report` does, once.

Measured 2026-12-03 (2 shared cores, other helpers' tests running):
    10,000 surveys (27,500 answers): 0.348 s CPU; 100,000 surveys (275,000 answers): 3.944 s CPU
(about 14 us per answer: the rows are read and grouped in Python, one pass).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialer.reports.surveys import survey_report
from dialer.store import Database

ROUNDS = 3


async def fill(db: Database, surveys: int) -> None:
    async with db.write() as tx:
        await tx.execute("INSERT INTO campaigns (id, state, created_at, updated_at) VALUES ('poll', 'active', 0, 0)")
        await tx.executemany("INSERT INTO contacts (id, name, attributes, created_at, updated_at) "
                             "VALUES (?, NULL, '{}', 0, 0)", [(i,) for i in range(1, surveys + 1)])
        await tx.executemany("INSERT INTO phone_numbers (number, contact_id, region, number_type, zones, created_at) "
                             "VALUES (?, ?, 'US', 'mobile', '', 0)",
                             [(f"+1415{i:07d}", i) for i in range(1, surveys + 1)])
        await tx.executemany("INSERT INTO leads (id, campaign_id, number, status, created_at, updated_at) "
                             "VALUES (?, 'poll', ?, 'finished', 0, 0)",
                             [(i, f"+1415{i:07d}") for i in range(1, surveys + 1)])
        await tx.executemany(
            "INSERT INTO attempts (call_id, lead_id, campaign_id, number, node, audit_id, state, created_at, "
            "answered_at) VALUES (?, ?, 'poll', ?, 'n', 0, 'ended', ?, ?)",
            [(f"c{i}", i, f"+1415{i:07d}", float(i), float(i)) for i in range(1, surveys + 1)])
        rows = []
        for i in range(1, surveys + 1):
            rows.append((f"c{i}", i, i, "q1", 1, "1", "yes", "answered", "q2", float(i)))
            rows.append((f"c{i}", i, i, "q2", 2, str(i % 9), str(i % 9), "answered", "q3", float(i)))
            if i % 4:  # a quarter stop before the last question
                rows.append((f"c{i}", i, i, "q3", 3, "2", "no", "answered", "end", float(i)))
        await tx.executemany(
            "INSERT INTO survey_answers (call_id, attempt_id, lead_id, campaign_id, question, position, keys, "
            "meaning, status, leads_to, answered_at) VALUES (?, ?, ?, 'poll', ?, ?, ?, ?, ?, ?, ?)", rows)


async def measure(surveys: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as folder:
        async with Database.open(Path(folder) / "bench.db", create=True) as db:
            await fill(db, surveys)
            best = float("inf")
            for _ in range(ROUNDS):
                start = time.process_time()
                async with db.read() as tx:
                    figures = await survey_report(tx, ["poll"], None, None)
                best = min(best, time.process_time() - start)
            rows = await db.fetchone("SELECT COUNT(*) FROM survey_answers")
            assert figures["poll"]["surveys"] == surveys
            return best, int(rows[0]) if rows else 0


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 100_000]
    print("command: python bench/survey_report.py " + " ".join(map(str, sizes)))
    for n in sizes:
        seconds, rows = asyncio.run(measure(n))
        print(f"{n:>9,} surveys ({rows:,} answers): survey_report {seconds:.3f} s CPU (best of {ROUNDS})")


if __name__ == "__main__":
    main()
