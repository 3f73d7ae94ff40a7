"""The daemon's resident memory as calls accumulate: after 20,000 calls and after 300,000, in one run.

    python bench/memory.py                    # 300,000 zero-talk calls, unlimited rate (about 6-10 minutes)
    python bench/memory.py --calls 60000      # a shorter look

One `dialer run` against the simulator in another process; the campaign's leads all imported first.
RSS (VmRSS from /proc) is read as the count of ended attempts passes each checkpoint. What may grow
by design, and its bound, is printed beside it: the hangup-to-commit latency buffer (a deque of at
most 100,000 floats, `Engine.commit_latencies`) and SQLite's page cache (`cache_size` per
connection). Growth past those is what the target (within 5 MiB from 20,000 to 300,000) is about.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import Daemon, dialer, query, rss_mib, simulator, write_config, write_leads
from bench.throughput import LOCAL_TRUNK, UNLIMITED, profile_toml

LATENCY_BUFFER = 100_000  # Engine.commit_latencies' maxlen


def latency_buffer_mib(entries: int) -> float:
    """Memory of a full deque of `entries` distinct floats: the float objects and the deque's slots."""
    return entries * (sys.getsizeof(0.5) + 8) / (1 << 20)


def main() -> None:
    """Run the campaign, print RSS at each checkpoint with this command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300_000)
    parser.add_argument("--first", type=int, default=20_000, help="the checkpoint compared with the last")
    parser.add_argument("--concurrent", type=int, default=2_000)
    args = parser.parse_args()
    checkpoints = sorted({args.first, *(n for n in (50_000, 100_000, 150_000, 200_000, 250_000) if n < args.calls),
                          args.calls})
    print(f"# python bench/memory.py {' '.join(sys.argv[1:])}")
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with simulator(workdir, profile_toml(0.0), log=False) as (_, port):
            config = write_config(workdir, port, concurrent=args.concurrent, rate=UNLIMITED, channel=LOCAL_TRUNK)
            leads = workdir / "leads.csv"
            write_leads(leads, args.calls)
            dialer("import", "bench", str(leads), "--config", str(config))
            dialer("campaign", "pause", "bench", "--config", str(config))
            daemon = Daemon(config, workdir / "daemon.log")
            daemon.wait_for("ami_connected")
            time.sleep(1.0)
            pid = daemon.process.pid
            print(f"idle, {args.calls:,} leads pending: RSS {rss_mib(pid):.1f} MiB")
            dialer("campaign", "resume", "bench", "--config", str(config))
            seen: dict[int, float] = {}
            start = time.monotonic()
            while len(seen) < len(checkpoints):
                time.sleep(0.2)
                ended = query(workdir / "dialer.db", "SELECT COUNT(*) FROM attempts WHERE state = 'ended'")[0][0]
                for point in checkpoints:
                    if point not in seen and ended >= point:
                        seen[point] = rss_mib(pid)
                        print(f"after {point:,} calls ({time.monotonic() - start:.0f} s): RSS {seen[point]:.1f} MiB "
                              f"(load {os.getloadavg()[0]:.1f})", flush=True)
            hwm = next((int(line.split()[1]) / 1024 for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                        if line.startswith("VmHWM:")), 0.0)
            daemon.stop()
    growth = seen[args.calls] - seen[args.first]
    buffer_growth = latency_buffer_mib(min(args.calls, LATENCY_BUFFER)) - latency_buffer_mib(
        min(args.first, LATENCY_BUFFER))
    print(f"growth {args.first:,} → {args.calls:,} calls: {growth:+.1f} MiB (peak RSS {hwm:.1f} MiB); of it, by "
          f"design: the latency buffer filling from {min(args.first, LATENCY_BUFFER):,} to "
          f"{min(args.calls, LATENCY_BUFFER):,} entries, {buffer_growth:+.1f} MiB (full: "
          f"{latency_buffer_mib(LATENCY_BUFFER):.1f} MiB, then flat); the rest {growth - buffer_growth:+.1f} MiB")


if __name__ == "__main__":
    main()
