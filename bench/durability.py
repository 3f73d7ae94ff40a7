"""What durable commits cost: the same campaign through `dialer run` three ways, in one run on one machine.

    python bench/durability.py                 # 10,000 zero-talk calls per mode
    python bench/durability.py --calls 2000    # a quick look

- `before`: every commit with synchronous=NORMAL (the dialer before this change; the attempt rows
  committed before their Originates survive a process crash, not a power loss or an OS crash);
- `normal` (the default): `[database] synchronous = "normal"`, but the claim transaction that
  commits the attempt rows before their Originates runs with synchronous=FULL (fsync of the WAL);
- `full`: `[database] synchronous = "full"`, every commit (outcomes too) waits for the disk.

Reports originations/s sustained (the simulator's log) and the daemon's CPU per call (/proc), and both
as ratios to `before` in the same run. The database is on this machine's disk (tempfile's folder):
an fsync is only as slow as the disk under it (tmpfs would make it free).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness
from bench.harness import Daemon, cpu_seconds, dialer, query, simulator, write_config, write_leads

ZERO_TALK = """
[[rules]]
match = "."
outcome = "answered"
ring_s = 0
talk_s = 0
recording = "omit"
"""

# `before`: the daemon with `durable=True` ignored, as the dialer was before durable attempt commits.
BEFORE = """
import sys
from dialer.store import db
write = db.Database.write
db.Database.write = lambda self, *, durable=False: write(self)
from dialer.cli import main
sys.argv[0] = "dialer"
main()
"""


def fsync_ms(folder: Path, n: int = 200) -> float:
    """Mean time of a 4 KiB append + fdatasync on this file system (what one durable commit waits for)."""
    path = folder / "probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        start = time.perf_counter()
        for _ in range(n):
            os.write(fd, bytes(4096))
            os.fdatasync(fd)
        return (time.perf_counter() - start) / n * 1000
    finally:
        os.close(fd)


def run_mode(workdir: Path, mode: str, calls: int) -> dict[str, float]:
    """One campaign of `calls` zero-talk calls; the daemon configured (or patched) for `mode`."""
    with simulator(workdir, ZERO_TALK) as (_, port):
        config = write_config(workdir, port, concurrent=2000, rate=100_000, channel="Local/{number}@callees")
        synchronous = "full" if mode == "full" else "normal"
        config.write_text(config.read_text().replace('path = "dialer.db"',
                                                     f'path = "dialer.db"\nsynchronous = "{synchronous}"'))
        leads = workdir / "leads.csv"
        write_leads(leads, calls)
        dialer("import", "bench", str(leads), "--config", str(config))
        dialer("campaign", "pause", "bench", "--config", str(config))
        saved = harness.DIALER
        if mode == "before":
            wrapper = workdir / "before.py"
            wrapper.write_text(BEFORE)
            harness.DIALER = [sys.executable, str(wrapper)]
        try:
            daemon = Daemon(config, workdir / "daemon.log")
        finally:
            harness.DIALER = saved
        daemon.wait_for("ami_connected")
        time.sleep(1.0)
        pid = daemon.process.pid
        cpu0 = cpu_seconds(pid)
        dialer("campaign", "resume", "bench", "--config", str(config))
        db = workdir / "dialer.db"
        while True:
            time.sleep(0.25)
            (ended,), = query(db, "SELECT COUNT(*) FROM attempts WHERE state = 'ended'")
            if ended >= calls:
                break
        cpu1 = cpu_seconds(pid)
        code = daemon.stop()
        times = sorted(json.loads(line)["time"] for line in (workdir / "sim.jsonl").read_text().splitlines()
                       if '"kind":"originate"' in line)
    span = times[-1] - times[0]
    return {"exit_code": code, "originations_per_s": (len(times) - 1) / span if span > 0 else float("inf"),
            "cpu_us_per_call": (cpu1 - cpu0) / calls * 1e6}


def main() -> None:
    """Run the three modes and print the figures with the command that produced them."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10_000, help="calls per mode")
    args = parser.parse_args()
    print(f"# python bench/durability.py {' '.join(sys.argv[1:])}\n# {platform.node()} "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"database in {tempfile.gettempdir()}")
    with tempfile.TemporaryDirectory() as tmp:
        print(f"one 4 KiB write + fdatasync here: {fsync_ms(Path(tmp)):.2f} ms")
    results = {}
    for mode in ("before", "normal", "full"):
        with tempfile.TemporaryDirectory() as tmp:
            results[mode] = run_mode(Path(tmp), mode, args.calls)
    base = results["before"]
    for mode, r in results.items():
        rate, cpu = r["originations_per_s"], r["cpu_us_per_call"]
        print(f"{mode:>6}: {rate:7.0f} originations/s ({rate / base['originations_per_s']:.2f}x), "
              f"CPU {cpu:4.0f} µs per call ({cpu / base['cpu_us_per_call']:.2f}x), exit {r['exit_code']}")

if __name__ == "__main__":
    main()
