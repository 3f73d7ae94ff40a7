"""The wallboard's cost to the dialer: daemon CPU with 0, 1 and 50 open pages while it dials.

    python bench/web.py                      # 50 and 200 pages, 20 s per phase; prints a Markdown table
    python bench/web.py --pages 50 --seconds 30 --rate 10

`dialer run` and the simulator run in their own processes (the throughput benchmark's setup); the
pages are raw Server-Sent Events readers in this process (what EventSource does: one GET of
/api/stream, then read). Each phase measures the daemon's utime+stime over the same wall time
while a campaign dials at a steady rate, so the difference between phases is the wallboard:
- 0 pages -> 1 page: the refreshes (store reads, the report code) that run only while a page is open;
- 1 page -> N pages: what each more page costs (encoding is done once per update; each page is one
  more write per update), given per page and per update delivered to one page.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import socket
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import Daemon, cpu_seconds, dialer, simulator, write_config, write_leads

PROFILE = """
[[rules]]
match = "."
outcome = "answered"
ring_s = 0.5
talk_s = 3.0
recording = "omit"
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Page:
    """One open wallboard: reads the event stream and counts the updates."""

    def __init__(self) -> None:
        self.updates = 0
        self.bytes = 0
        self.task: asyncio.Task[None] | None = None

    async def read(self, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        await writer.drain()
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                self.bytes += len(line)
                if line.startswith(b"event: snapshot"):
                    self.updates += 1
        finally:
            writer.close()


async def phase(daemon_pid: int, port: int, pages: int, seconds: float) -> dict[str, float]:
    """Open `pages` streams, let them settle, then measure the daemon's CPU over `seconds`."""
    open_pages = [Page() for _ in range(pages)]
    for page in open_pages:
        page.task = asyncio.create_task(page.read(port))
    await asyncio.sleep(2.0)  # connected and past their first snapshot
    before_cpu, before_updates = cpu_seconds(daemon_pid), sum(p.updates for p in open_pages)
    start = time.monotonic()
    await asyncio.sleep(seconds)
    cpu = cpu_seconds(daemon_pid) - before_cpu
    wall = time.monotonic() - start
    delivered = sum(p.updates for p in open_pages) - before_updates
    for page in open_pages:
        assert page.task is not None
        page.task.cancel()
    await asyncio.gather(*(p.task for p in open_pages if p.task is not None), return_exceptions=True)
    alive = sum(1 for p in open_pages if p.updates)
    return {"pages": pages, "cpu_s": cpu, "wall_s": wall, "delivered": delivered, "alive": alive,
            "updates_per_page_s": delivered / pages / wall if pages else 0.0}


async def measure(args: argparse.Namespace, workdir: Path) -> list[dict[str, float]]:
    with simulator(workdir, PROFILE, log=False) as (_sim, sim_port):
        port = free_port()
        config = write_config(workdir, sim_port, concurrent=args.concurrent, rate=args.rate,
                              extra=f"[web]\nenabled = true\nport = {port}\n")
        dialer("init", "--config", str(config))
        leads = workdir / "leads.csv"
        write_leads(leads, args.leads)
        dialer("import", "bench", str(leads), "--config", str(config))
        daemon = Daemon(config, workdir / "daemon.log")
        try:
            daemon.wait_for("web_listening")
            await asyncio.sleep(5.0)  # dialing at its steady rate
            results = []
            # Twice over, interleaved: the machine is shared, so a neighbour's burst hits both sides.
            for pages in (0, 1, args.pages, args.max_pages, 1, args.pages, args.max_pages, 0):
                results.append(await phase(daemon.process.pid, port, pages, args.seconds))
            dropped = sum(1 for e in daemon.events() if e.get("event") == "web_client_dropped")
            results[-1]["dropped"] = dropped
        finally:
            daemon.stop()
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--max-pages", type=int, default=200, help="also measured: [web] max_clients' default")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=5.0, help="originations per second")
    parser.add_argument("--concurrent", type=int, default=30)
    parser.add_argument("--leads", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dialer-bench-web-") as tmp:
        results = asyncio.run(measure(args, Path(tmp)))
    def mean(pages: int, key: str) -> float:
        rows = [r for r in results if r["pages"] == pages]
        return sum(r[key] for r in rows) / len(rows)

    def cpu_rate(pages: int) -> float:  # CPU seconds per wall second
        return mean(pages, "cpu_s") / mean(pages, "wall_s")

    def deliveries(pages: int) -> float:  # updates delivered per wall second, all pages together
        return mean(pages, "delivered") / mean(pages, "wall_s")

    refresh = cpu_rate(1) - cpu_rate(0)
    per_page = {n: (cpu_rate(n) - cpu_rate(1)) / (n - 1) for n in (args.pages, args.max_pages)}
    per_delivery = {n: (cpu_rate(n) - cpu_rate(1)) / (deliveries(n) - deliveries(1))
                    for n in (args.pages, args.max_pages)}
    command = " ".join(["python", "bench/web.py", *sys.argv[1:]])
    print(f"Command: `{command}` ({platform.machine()}, Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}); {args.rate:g} originations/s, 3 s calls\n")
    print("| open pages | daemon CPU | updates per page per s | pages that got updates |")
    print("|---|---|---|---|")
    for r in results:
        print(f"| {int(r['pages'])} | {r['cpu_s'] / r['wall_s'] * 100:.1f}% of a core | "
              f"{r['updates_per_page_s']:.2f} | {int(r['alive'])} |")
    print()
    print(f"- refreshes while a page is open (0 -> 1 page): {refresh * 1000:.1f} ms CPU per second")
    for n in (args.pages, args.max_pages):
        print(f"- 1 -> {n} pages: each more page {per_page[n] * 1000:.2f} ms CPU per second "
              f"({per_page[n] * 100:.3f}% of a core); per update delivered to one page "
              f"{per_delivery[n] * 1e6:.0f} µs CPU")
    print(f"- pages dropped as too slow: {int(results[-1].get('dropped', 0))}")


if __name__ == "__main__":
    main()
