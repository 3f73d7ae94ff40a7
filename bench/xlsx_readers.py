"""Which library reads an Excel lead list: openpyxl (read_only mode) or python-calamine, on 100,000 rows.

    python bench/xlsx_readers.py              # 100,000 rows
    python bench/xlsx_readers.py --rows 20000

Writes one seeded .xlsx (phone as text and as a number, a name, two attribute columns), then reads
every row of it with each library in a fresh process, three times each, and prints the best wall
time and the process's peak RSS (Rust allocations included, which tracemalloc would not see).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import sys
import tempfile
from pathlib import Path

READERS = {
    "openpyxl": """
import openpyxl
book = openpyxl.load_workbook(PATH, read_only=True, data_only=True)
rows = 0
for row in book.worksheets[0].iter_rows(values_only=True):
    rows += 1
book.close()
""",
    "calamine": """
from python_calamine import CalamineWorkbook
book = CalamineWorkbook.from_path(PATH)
rows = 0
for row in book.get_sheet_by_index(0).iter_rows():
    rows += 1
book.close()
""",
}

RUN = """
import resource, time, json
PATH = {path!r}
start = time.perf_counter()
{body}
print(json.dumps({{"rows": rows, "s": time.perf_counter() - start,
                   "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def write_xlsx(path: Path, rows: int, seed: int) -> None:
    """A seeded workbook in openpyxl's write-only mode."""
    import openpyxl

    rng = random.Random(seed)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(["phone", "name", "customer_id", "segment"])
    for i in range(rows):
        number = f"+1 415 {rng.randint(200, 999)} {rng.randint(0, 9999):04d}"
        phone: str | int = number if i % 2 else int(number.replace(" ", "").lstrip("+"))
        sheet.append([phone, f"Customer {i}", f"C{i:07d}", rng.choice(("new", "returning", "vip"))])
    book.save(path)


def main() -> None:
    """Write the workbook, time both readers, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"# python bench/xlsx_readers.py {' '.join(sys.argv[1:])}")
    print(f"# {platform.node()} {platform.machine()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "leads.xlsx"
        write_xlsx(path, args.rows, args.seed)
        print(f"workbook: {args.rows:,} rows, {path.stat().st_size / 1e6:.1f} MB")
        best: dict[str, dict[str, float]] = {}
        for _ in range(args.repeat):  # interleaved, so a busy moment of the machine hits both
            for name, body in READERS.items():
                result = subprocess.run([sys.executable, "-c", RUN.format(path=str(path), body=body)],
                                        capture_output=True, text=True, check=True)
                figures = json.loads(result.stdout)
                assert figures["rows"] == args.rows + 1, figures
                if name not in best or figures["s"] < best[name]["s"]:
                    best[name] = figures
        for name, figures in best.items():
            print(f"{name:9s} {figures['s']:6.2f} s  ({args.rows / figures['s']:>9,.0f} rows/s)  "
                  f"peak RSS {figures['rss_mib']:.0f} MiB")
        ratio = best["openpyxl"]["s"] / best["calamine"]["s"]
        print(f"calamine reads {ratio:.1f}x faster than openpyxl read_only")


if __name__ == "__main__":
    main()
