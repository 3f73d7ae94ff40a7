"""How long the everyday commands take, each as a whole process: `dialer --help` and `dialer status`.

    .venv/bin/python bench/commands.py                     # 1,000,000 attempts over 200,000 leads
    .venv/bin/python bench/commands.py --attempts 20000    # a quick look
    .venv/bin/python bench/commands.py --against /path/to/other/checkout   # the same, and that code

A seeded store (bench/crm.py's) is written once into --dir. Each command runs --runs times after one
warm-up, in a fresh interpreter (`python -m dialer ...`, cwd outside the tree), and this prints the
median and the min-max of wall time and of CPU (user + system, from the OS's accounting of the
finished child). `status`'s own work (`status_figures` on the open database, in this process) is
timed apart: it is what grows with the store; the rest is interpreter and import start-up.
With --against, the same commands run from another checkout's `dialer` package (e.g. an exported
copy of main), without site-packages' editable install in the way, for a before/after in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.crm import seed  # noqa: E402
from dialer.reports.status import status_figures  # noqa: E402
from dialer.store import Database  # noqa: E402


def site_packages() -> str:
    """This interpreter's site-packages (the dependencies), to run a checkout with `-S`."""
    return next(p for p in sys.path if p.endswith("site-packages"))


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Run one process to its end; (wall seconds, CPU seconds) of that child."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {result.stderr.strip()[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def summary(values: list[float]) -> str:
    """median (min-max) in seconds."""
    return f"{statistics.median(values):.3f} s ({min(values):.3f}-{max(values):.3f})"


def bench_command(label: str, args: list[str], checkout: Path, runs: int, cwd: Path) -> None:
    """Time `python -S -m dialer ARGS` from `checkout`; print one line."""
    env = {**os.environ, "PYTHONPATH": f"{checkout}{os.pathsep}{site_packages()}"}
    argv = [sys.executable, "-S", "-m", "dialer", *args]
    timed(argv, env, cwd)  # warm-up: page cache, .pyc files
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = timed(argv, env, cwd)
        walls.append(wall)
        cpus.append(cpu)
    print(f"{label}: `dialer {' '.join(args)}` wall {summary(walls)}, CPU {summary(cpus)} "
          f"(median, min-max of {runs} runs; code from {checkout})")


async def own_work(path: Path, runs: int) -> list[float]:
    """Seconds of `status_figures` alone, per run, on the open database."""
    times = []
    async with Database.open(path) as db:
        for _ in range(runs):
            start = time.perf_counter()
            await status_figures(db)
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    """Seed the store if needed, then time the commands; print each figure with this command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--dir", type=Path, default=ROOT / "bench" / "out" / "commands")
    parser.add_argument("--against", type=Path, action="append", default=[],
                        help="another checkout to time the same commands from (repeatable)")
    args = parser.parse_args()
    print(f"# python bench/commands.py {' '.join(sys.argv[1:])}")
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    directory = args.dir.resolve() / f"a{args.attempts}-l{args.leads}"
    directory.mkdir(parents=True, exist_ok=True)
    database = directory / "dialer.db"
    if not database.exists():
        start = time.perf_counter()

        async def create() -> None:
            async with Database.open(database, create=True) as db:
                await db.hash_key()

        asyncio.run(create())
        seed(database, args.attempts, args.leads)
        print(f"seeded {args.attempts:,} attempts over {args.leads:,} leads in {time.perf_counter() - start:.0f} s")
    config = directory / "dialer.toml"
    config.write_text(f'[database]\npath = "{database}"\n')
    figures = asyncio.run(own_work(database, args.runs))
    print(f"status's own work (status_figures, in-process, {args.attempts:,} attempts): "
          f"{summary(figures)}")
    for checkout in (ROOT, *(p.resolve() for p in args.against)):
        bench_command("help", ["--help"], checkout, args.runs, directory)
        bench_command("status", ["status", "--config", str(config)], checkout, args.runs, directory)
    print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
