"""The dialer against a bare AMI origination loop (what a user would write), same calls, same limits.

    python bench/bare_ami.py                          # rates 50, 100, 200, 500 and unlimited, 2,000 calls each
    python bench/bare_ami.py --rates 200 --calls 1000 --talk 1

Both make the same calls against the simulator in another process (answered at once, hung up by the
callee after --talk seconds, Local channel pair, read=all user) with the same limits
(`max_originations_per_s`, `max_concurrent_calls`). The bare loop: one asyncio connection, the
rate as the dialer's pacer applies it (a bucket of one second's worth of calls, then one call per
1/rate s), a semaphore of the concurrent limit, an Originate with
Async, frames read whole and parsed into dicts, a call's slot freed by the Hangup of its first
channel (or a failed OriginateResponse). No database, no gate, no retries: the least a dialer does.

Completion time = the simulator's log, first Originate received → last call ended, for both; the
ratio dialer ÷ bare says what the dialer adds in wall time at each rate (≤ 1.05 is the target where
the simulator is not the limit). CPU of each client's process is printed beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import SIM_SECRET, Daemon, cpu_seconds, dialer, query, simulator, write_config, write_leads
from bench.throughput import LOCAL_TRUNK, UNLIMITED, frames, profile_toml


def sim_span(log: Path) -> tuple[float, int]:
    """(first Originate received → last call ended, seconds; calls ended) from the simulator's log."""
    records = [json.loads(line) for line in log.read_text().splitlines()]
    starts = [r["time"] for r in records if r.get("kind") == "originate"]
    ends = [r["time"] for r in records if r.get("kind") == "end"]
    return max(ends) - min(starts), len(ends)


async def bare_loop(port: int, numbers: list[str], rate: float, max_live: int) -> None:
    """Originate every number within the limits; return when every call has ended."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 24)
    await reader.readline()  # banner
    writer.write(f"Action: Login\r\nUsername: dialer\r\nSecret: {SIM_SECRET}\r\nEvents: on\r\n\r\n".encode())
    slots = asyncio.Semaphore(max_live)
    live: set[str] = set()
    done = asyncio.Event()
    ended = 0

    async def read() -> None:
        nonlocal ended
        buffer = bytearray()
        while ended < len(numbers):
            data = await reader.read(1 << 16)
            if not data:
                raise ConnectionError("the PBX closed the connection")
            buffer += data
            for frame in frames(buffer):
                message = dict(line.partition(": ")[::2] for line in frame.decode("utf-8", "replace").split("\r\n"))
                call = None
                if message.get("Event") == "Hangup":
                    call = message.get("Uniqueid")
                elif message.get("Event") == "OriginateResponse" and message.get("Response") != "Success":
                    call = message.get("ActionID")
                if call in live:
                    live.discard(call)
                    ended += 1
                    slots.release()
        done.set()

    reading = asyncio.create_task(read())
    loop = asyncio.get_running_loop()
    start = loop.time()
    burst = max(1, int(rate))  # the dialer's default bucket: one second's worth at once, then the rate
    for i, number in enumerate(numbers):
        if rate < UNLIMITED:
            await asyncio.sleep(max(0.0, start + max(0, i - burst + 1) / rate - loop.time()))
        await slots.acquire()
        call_id = f"b{i:020x}"
        live.add(call_id)
        writer.write((
            f"Action: Originate\r\nChannel: Local/{number}@callees\r\nContext: dialer\r\nExten: s\r\n"
            f"Priority: 1\r\nTimeout: 30000\r\nCallerID: \"Bench\" <+14155550100>\r\nAsync: true\r\n"
            f"ChannelId: {call_id}\r\nOtherChannelId: {call_id}-2\r\nVariable: DIALER_CALL_ID={call_id}\r\n"
            f"ActionID: {call_id}\r\n\r\n").encode())
    await done.wait()
    await reading
    writer.close()


def run_bare(workdir: Path, *, calls: int, rate: float, max_live: int, talk_s: float) -> tuple[float, float]:
    """(completion seconds, CPU seconds of this process) for the bare loop."""
    numbers = [f"1415{200 + i // 10000:03d}{i % 10000:04d}" for i in range(calls)]
    with simulator(workdir, profile_toml(talk_s)) as (_, port):
        before = resource.getrusage(resource.RUSAGE_SELF)
        asyncio.run(bare_loop(port, numbers, rate, max_live))
        after = resource.getrusage(resource.RUSAGE_SELF)
        time.sleep(0.2)  # the simulator's log line of the last end
    span, ended = sim_span(workdir / "sim.jsonl")
    assert ended == calls, (ended, calls)
    return span, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_dialer(workdir: Path, *, calls: int, rate: float, max_live: int, talk_s: float) -> tuple[float, float]:
    """(completion seconds, CPU seconds of the daemon from resume to the last outcome) for `dialer run`."""
    with simulator(workdir, profile_toml(talk_s)) as (_, port):
        config = write_config(workdir, port, concurrent=max_live, rate=rate, channel=LOCAL_TRUNK)
        leads = workdir / "leads.csv"
        write_leads(leads, calls)
        dialer("import", "bench", str(leads), "--config", str(config))
        dialer("campaign", "pause", "bench", "--config", str(config))
        daemon = Daemon(config, workdir / "daemon.log")
        daemon.wait_for("ami_connected")
        time.sleep(1.0)
        cpu0 = cpu_seconds(daemon.process.pid)
        dialer("campaign", "resume", "bench", "--config", str(config))
        while (query(workdir / "dialer.db", "SELECT COUNT(*) FROM attempts WHERE state = 'ended'")[0][0] or 0) < calls:
            time.sleep(0.1)
        cpu = cpu_seconds(daemon.process.pid) - cpu0
        daemon.stop()
    span, ended = sim_span(workdir / "sim.jsonl")
    assert ended == calls, (ended, calls)
    return span, cpu


def main() -> None:
    """Both clients per rate, alternating which goes first; print a table with this command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=float, nargs="+", default=[50.0, 100.0, 200.0, 500.0, UNLIMITED])
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--max-live", type=int, default=300)
    parser.add_argument("--talk", type=float, default=1.0, help="talk seconds per call")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each client per rate")
    args = parser.parse_args()
    print(f"# python bench/bare_ami.py {' '.join(sys.argv[1:])}")
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"# {args.calls:,} calls per run, max {args.max_live} live, talk {args.talk:g} s")
    print("| rate | bare loop: completion, CPU | dialer: completion, CPU | dialer ÷ bare (completion) | load |")
    print("|---|---|---|---|---|")
    for index, rate in enumerate(args.rates):
        for repeat in range(args.repeats):
            runs: dict[str, tuple[float, float]] = {}
            order = ("bare", "dialer") if (index + repeat) % 2 == 0 else ("dialer", "bare")
            for who in order:
                with tempfile.TemporaryDirectory() as tmp:
                    run = run_bare if who == "bare" else run_dialer
                    runs[who] = run(Path(tmp), calls=args.calls, rate=rate, max_live=args.max_live,
                                    talk_s=args.talk)
            (bare, bare_cpu), (ours, our_cpu) = runs["bare"], runs["dialer"]
            label = "none" if rate >= UNLIMITED else f"{rate:g}/s"
            print(f"| {label} | {bare:.2f} s, {bare_cpu:.2f} s | {ours:.2f} s, {our_cpu:.2f} s | "
                  f"**{ours / bare:.2f}x** | {os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
