"""What the compliance journal costs: the same DNC changes with and without their journal line.

    .venv/bin/python bench/journal.py                  # 300 single opt-outs, one 100,000-number list
    .venv/bin/python bench/journal.py --singles 1000 --bulk 1000000

Each opt-out during a call is one transaction with one DNC entry: with the journal it also appends
one line and fsyncs it (one more fsync per change). A bulk list (`dnc add --file`) writes 1,000
numbers per line, one write and one fsync for the whole transaction. The "without" runs replace the
journal's file append by nothing (the mark row stays), in the same process, on the same disk, so the
ratio is what the journal adds. Reports wall time per opt-out and per 1,000 listed numbers, and the
journal's size per number.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialer.store import Database
from dialer.store import compliance as store
from dialer.store import compliance_journal as journal


async def singles(db: Database, count: int, start: int) -> float:
    key = await db.hash_key()
    began = time.perf_counter()
    for i in range(count):
        entry = store.NewDncEntry(f"+1415{start + i:07d}", store.DncKind.OPTOUT, None, f"call:c{i}")
        async with db.write() as tx:
            await store.add_dnc(tx, [entry], store.ChangeStamp("dialer", time.time(), key))
    return time.perf_counter() - began


async def bulk(db: Database, count: int, start: int) -> float:
    key = await db.hash_key()
    entries = [store.NewDncEntry(f"+1212{start + i:07d}", store.DncKind.INTERNAL, None, "list.csv")
               for i in range(count)]
    began = time.perf_counter()
    async with db.write() as tx:
        await store.add_dnc(tx, entries, store.ChangeStamp("cli", time.time(), key))
    return time.perf_counter() - began


async def run(folder: Path, single_count: int, bulk_count: int) -> None:
    results: dict[str, tuple[float, float]] = {}
    real_append = journal._append
    for label, append in (("with the journal", real_append), ("without (mark row only)", lambda path, line: None)):
        journal._append = append  # bench only: the file append switched off to measure it
        path = folder / f"{label.split()[0]}.db"
        async with Database.open(path) as db:
            one = await singles(db, single_count, 0)
            many = await bulk(db, bulk_count, 0)
        results[label] = (one, many)
    journal._append = real_append
    size = journal.journal_path(folder / "with.db").stat().st_size
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"| run | per opt-out (1 entry, 1 transaction) | per 1,000 listed numbers (one {bulk_count:,}-number "
          "transaction) |")
    print("|---|---|---|")
    for label, (one, many) in results.items():
        print(f"| {label} | {one / single_count * 1000:.2f} ms | {many / bulk_count * 1000 * 1000:.1f} ms |")
    (w1, wb), (n1, nb) = results.values()
    print(f"| ratio | {w1 / n1:.2f}x | {wb / nb:.2f}x |")
    print(f"journal: {size / (single_count + bulk_count):.0f} bytes per number ({size / 1048576:.1f} MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--singles", type=int, default=300)
    parser.add_argument("--bulk", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        asyncio.run(run(Path(folder), args.singles, args.bulk))


if __name__ == "__main__":
    main()
