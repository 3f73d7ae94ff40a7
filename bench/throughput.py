"""Throughput and concurrency of the dialer against the simulator in another process.

    python bench/throughput.py                      # 20,000-call throughput run + 5,000-live run
    python bench/throughput.py --calls 2000 --live 500   # a quick look

Throughput run: zero-talk answered calls through a Local channel pair (the heaviest shape: about
what transcript 03 shows a read=all manager user per call). Reports originations per second
sustained (from the simulator's origination log), the daemon process's CPU seconds per call, and
that cost divided by the CPU cost of only parsing the same calls' AMI bytes in a bare loop (the
floor: the bytes are recorded by a raw client making the same calls).

Concurrency run: calls with a long talk time so that all are up at once, then released; reports the
daemon's resident memory idle and with every call live, and the delay from the Hangup that ends a
call to its outcome being committed (median and p99, measured inside the daemon).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import SIM_SECRET, Daemon, cpu_seconds, dialer, query, rss_mib, simulator, write_config, write_leads

ZERO_TALK = """
[[rules]]
match = "."
outcome = "answered"
ring_s = 0
talk_s = 0
recording = "omit"
"""

LONG_TALK = """
[[rules]]
match = "."
outcome = "answered"
ring_s = 0.5
talk_s = {talk_s}
recording = "omit"
"""

LOCAL_TRUNK = "Local/{number}@callees"


def bare_parse_floor(data: bytes) -> float:
    """CPU seconds to split-parse `data` into dicts in the simplest possible loop."""
    start = time.process_time()
    for frame in data.split(b"\r\n\r\n"):
        message = {}
        for line in frame.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(": ")
            message[key] = value
    return time.process_time() - start


async def record_stream(port: int, calls: int) -> bytes:
    """Make `calls` zero-talk calls with a raw client and return every byte Asterisk sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 24)
    await reader.readline()
    writer.write(f"Action: Login\r\nUsername: dialer\r\nSecret: {SIM_SECRET}\r\nEvents: on\r\n\r\n".encode())
    chunks: list[bytes] = []
    for i in range(calls):
        call_id = f"c{i:020x}"
        number = f"1415{200 + i // 10000:03d}{i % 10000:04d}"
        writer.write((
            f"Action: Originate\r\nChannel: Local/{number}@callees\r\nContext: dialer\r\nExten: s\r\n"
            f"Priority: 1\r\nTimeout: 30000\r\nCallerID: \"Bench\" <+14155550100>\r\nAsync: true\r\n"
            f"ChannelId: {call_id}\r\nOtherChannelId: {call_id}-2\r\nVariable: DIALER_CALL_ID={call_id}\r\n"
            f"Variable: DIALER_CAMPAIGN=bench\r\nActionID: {call_id}\r\n\r\n").encode())
    hangups = 0
    while hangups < 2 * calls:
        data = await asyncio.wait_for(reader.read(1 << 20), 60)
        if not data:
            break
        chunks.append(data)
        hangups += data.count(b"Event: Hangup\r\n")
    try:  # the Cdr events trail the Hangups
        while True:
            chunks.append(await asyncio.wait_for(reader.read(1 << 20), 1.0))
    except TimeoutError:
        pass
    writer.close()
    return b"".join(chunks)


def floor_run(workdir: Path, calls: int) -> dict[str, float]:
    """Record the AMI bytes of `calls` calls and time the bare parse and our parser on them."""
    from dialer.ami.frames import FrameParser
    from dialer.engine import Engine

    with simulator(workdir, ZERO_TALK, log=False) as (_, port):
        data = asyncio.run(record_stream(port, calls))
    _, _, body = data.partition(b"\r\n")
    messages = body.count(b"\r\n\r\n")
    floor = min(bare_parse_floor(body) for _ in range(3))
    wanted = Engine.wanted_events()
    ours = []
    for _ in range(3):
        parser = FrameParser(wanted)
        start = time.process_time()
        parser.feed(data)
        ours.append(time.process_time() - start)
    return {
        "calls": calls,
        "messages_per_call": messages / calls,
        "bytes_per_call": len(body) / calls,
        "floor_us_per_call": floor / calls * 1e6,
        "frame_parser_us_per_call": min(ours) / calls * 1e6,
    }


def campaign_run(workdir: Path, *, calls: int, profile: str, concurrent: int, rate: float,
                 watch_live: int | None = None) -> dict[str, float]:
    """Run one campaign of `calls` leads through `dialer run`; return the measured figures."""
    with simulator(workdir, profile) as (_, port):
        config = write_config(workdir, port, concurrent=concurrent, rate=rate, channel=LOCAL_TRUNK)
        leads = workdir / "leads.csv"
        write_leads(leads, calls)
        dialer("import", "bench", str(leads), "--config", str(config))
        dialer("campaign", "pause", "bench", "--config", str(config))
        daemon = Daemon(config, workdir / "daemon.log")
        daemon.wait_for("ami_connected")
        time.sleep(1.0)
        pid = daemon.process.pid
        idle_rss = rss_mib(pid)
        cpu0 = cpu_seconds(pid)
        dialer("campaign", "resume", "bench", "--config", str(config))
        db = workdir / "dialer.db"
        peak_live = 0
        live_rss = 0.0
        while True:
            time.sleep(0.25)
            (ended, live), = query(db, "SELECT SUM(state = 'ended'), SUM(state <> 'ended') FROM attempts")
            ended, live = ended or 0, live or 0
            if live > peak_live:
                peak_live = live
                live_rss = rss_mib(pid)
            if ended >= calls:
                break
        cpu1 = cpu_seconds(pid)
        code = daemon.stop()
        stopped = next(e for e in daemon.events() if e.get("event") == "stopped")
        times = sorted(json.loads(line)["time"] for line in (workdir / "sim.jsonl").read_text().splitlines()
                       if '"kind":"originate"' in line)
    span = times[-1] - times[0]
    return {
        "exit_code": code,
        "calls": calls,
        "originations_per_s": (len(times) - 1) / span if span > 0 else float("inf"),
        "cpu_s_per_call": (cpu1 - cpu0) / calls,
        "idle_rss_mib": idle_rss,
        "peak_live_calls": peak_live,
        "rss_at_peak_mib": live_rss,
        "commit_latency_p50_ms": stopped.get("commit_latency_p50_ms", float("nan")),
        "commit_latency_p99_ms": stopped.get("commit_latency_p99_ms", float("nan")),
        "watch_live": watch_live or 0,
    }


def main() -> None:
    """Run both benchmarks and print the figures with the command that produced them."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20_000, help="calls in the throughput run")
    parser.add_argument("--live", type=int, default=5_000, help="calls held up at once in the concurrency run")
    parser.add_argument("--floor-calls", type=int, default=2_000, help="calls recorded for the parse floor")
    args = parser.parse_args()
    command = "python bench/throughput.py " + " ".join(sys.argv[1:])
    print(f"# {command}\n# {platform.node()} {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        floor = floor_run(Path(tmp), args.floor_calls)
    print(f"traffic per answered call: {floor['messages_per_call']:.1f} messages, "
          f"{floor['bytes_per_call'] / 1024:.1f} KiB (read=all, Local channel pair)")
    print(f"parse floor (bare split-parse): {floor['floor_us_per_call']:.0f} µs CPU per call; "
          f"dialer FrameParser on the same bytes: {floor['frame_parser_us_per_call']:.0f} µs")
    with tempfile.TemporaryDirectory() as tmp:
        run = campaign_run(Path(tmp), calls=args.calls, profile=ZERO_TALK, concurrent=2000, rate=100_000)
    ratio = run["cpu_s_per_call"] * 1e6 / floor["floor_us_per_call"]
    print(f"throughput: {run['calls']} calls, {run['originations_per_s']:.0f} originations/s sustained, "
          f"dialer CPU {run['cpu_s_per_call'] * 1e6:.0f} µs per call = {ratio:.2f}x the parse floor "
          f"(exit {run['exit_code']})")
    talk_s = max(30.0, args.live / 500 * 2 + 10)
    with tempfile.TemporaryDirectory() as tmp:
        live = campaign_run(Path(tmp), calls=args.live, profile=LONG_TALK.format(talk_s=talk_s),
                            concurrent=args.live + 100, rate=500)
    print(f"concurrency: {live['peak_live_calls']} calls live at once; daemon RSS idle {live['idle_rss_mib']:.0f} MiB, "
          f"at peak {live['rss_at_peak_mib']:.0f} MiB; hangup-to-commit latency p50 "
          f"{live['commit_latency_p50_ms']:.1f} ms, p99 {live['commit_latency_p99_ms']:.1f} ms "
          f"(exit {live['exit_code']})")


if __name__ == "__main__":
    main()
