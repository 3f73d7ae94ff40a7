"""The dialer against the simulator in another process, over a grid of rates and talk times.

    python bench/throughput.py                         # the whole grid (about 15 minutes)
    python bench/throughput.py --quick                 # one cell, 100/s with zero talk, in about a minute
    python bench/throughput.py --rates 200 --talks 30  # chosen cells
    python bench/throughput.py --profile               # and a cProfile of the daemon per cell (top entries)

Cells: rates 10, 50, 100, 200, 500 originations/s and unlimited (`max_originations_per_s` = 100,000),
talk 0 s and 30 s (the simulator's profile sets `read_s` beyond the talk so that the callee, not the
dialplan's Read() timeout, ends the call: a 30 s talk lasts 30 s). Every call is answered through a
Local channel pair (the heaviest shape for a read=all manager user). `max_concurrent_calls` = 5,000:
with 30 s talks that caps a cell at ~167 originations/s, which the table says.

Per cell it prints: originations/s (the simulator's origination log, first to last), CPU per call of
the daemon and of the simulator (/proc utime+stime from the campaign's resume to its last outcome,
over the cell's calls), the parse floor of the same traffic, the ratio, and two latencies: Hangup
sent (the simulator's end record) → call ended in the daemon (`attempts.ended_at`), and that moment
→ outcome committed (measured inside the daemon: `stopped` log line), p50 and p99 each.

The floor: a raw client records every byte the simulator sends for the same calls of the same
profile; during each cell, once a second, this process parses a slice of those bytes in the
simplest loop (`split(b"\\r\\n\\r\\n")`, `partition(": ")` into dicts) and takes its thread CPU
time; the cell's floor is the median of those samples: measured beside the running daemon and
simulator, under the same load, not on a quiet machine before them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import pstats
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import SIM_SECRET, Daemon, cpu_seconds, dialer, query, simulator, write_config, write_leads

UNLIMITED = 100_000.0
RATES = (10.0, 50.0, 100.0, 200.0, 500.0, UNLIMITED)
TALKS = (0.0, 30.0)
MAX_LIVE = 5_000
LOCAL_TRUNK = "Local/{number}@callees"
FRAME_END = b"\r\n\r\n"


def profile_toml(talk_s: float) -> str:
    """Every callee answers at once and hangs up after `talk_s`; Read() waits longer than that."""
    return f"""
read_s = {talk_s + 10.0}
[[rules]]
match = "."
outcome = "answered"
ring_s = 0
talk_s = {talk_s}
recording = "omit"
"""


def frames(buffer: bytearray) -> list[bytes]:
    """Take the whole frames out of `buffer` (a frame split across reads stays for the next read)."""
    end = buffer.rfind(FRAME_END)
    if end < 0:
        return []
    whole = bytes(buffer[:end])
    del buffer[:end + len(FRAME_END)]
    return whole.split(FRAME_END)


def bare_parse(data: bytes) -> None:
    """The floor: split-parse `data` into dicts in the simplest possible loop."""
    for frame in data.split(FRAME_END):
        message = {}
        for line in frame.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(": ")
            message[key] = value


async def record_stream(port: int, calls: int, timeout_s: float) -> list[bytes]:
    """Make `calls` calls with a raw client; every frame the simulator sent (banner apart)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 24)
    await reader.readline()
    writer.write(f"Action: Login\r\nUsername: dialer\r\nSecret: {SIM_SECRET}\r\nEvents: on\r\n\r\n".encode())
    for i in range(calls):
        call_id = f"c{i:020x}"
        number = f"1415{200 + i // 10000:03d}{i % 10000:04d}"
        writer.write((
            f"Action: Originate\r\nChannel: Local/{number}@callees\r\nContext: dialer\r\nExten: s\r\n"
            f"Priority: 1\r\nTimeout: 30000\r\nCallerID: \"Bench\" <+14155550100>\r\nAsync: true\r\n"
            f"ChannelId: {call_id}\r\nOtherChannelId: {call_id}-2\r\nVariable: DIALER_CALL_ID={call_id}\r\n"
            f"Variable: DIALER_CAMPAIGN=bench\r\nActionID: {call_id}\r\n\r\n").encode())
    buffer = bytearray()
    recorded: list[bytes] = []
    hangups = 0
    deadline = time.monotonic() + timeout_s
    while hangups < 2 * calls and time.monotonic() < deadline:
        data = await asyncio.wait_for(reader.read(1 << 20), timeout_s)
        if not data:
            break
        buffer += data
        for frame in frames(buffer):  # whole frames only: a marker split across reads is not lost
            recorded.append(frame)
            hangups += frame.startswith(b"Event: Hangup\r\n")
    try:  # the Cdr events trail the Hangups
        while True:
            buffer += await asyncio.wait_for(reader.read(1 << 20), 1.0)
            recorded.extend(frames(buffer))
    except TimeoutError:
        pass
    writer.close()
    return recorded


@dataclass
class Traffic:
    """The recorded frames of `calls` calls of one profile."""

    calls: int
    frames: list[bytes]

    @property
    def messages_per_call(self) -> float:
        """Frames per call (login response included, negligible)."""
        return len(self.frames) / self.calls

    @property
    def bytes_per_call(self) -> float:
        """Bytes per call, frame ends included."""
        return sum(len(f) + 4 for f in self.frames) / self.calls

    def slice_of(self, calls: int) -> bytes:
        """About `calls` calls' worth of whole frames, as one buffer."""
        count = min(len(self.frames), int(self.messages_per_call * calls))
        return FRAME_END.join(self.frames[:count]) + FRAME_END


def record_traffic(workdir: Path, talk_s: float, calls: int) -> Traffic:
    """Record the AMI bytes of `calls` calls of this talk time."""
    with simulator(workdir, profile_toml(talk_s), log=False) as (_, port):
        recorded = asyncio.run(record_stream(port, calls, timeout_s=talk_s + 60))
    return Traffic(calls, recorded)


@dataclass
class FloorSampler:
    """Once a second, the thread CPU time of a bare parse of `calls` calls of traffic, per call."""

    traffic: Traffic
    calls: int = 100
    samples: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._data = self.traffic.slice_of(self.calls)
        self._per = len(self._data.split(FRAME_END)) / self.traffic.messages_per_call  # calls in the slice

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            start = time.thread_time()
            bare_parse(self._data)
            self.samples.append((time.thread_time() - start) / self._per)

    def __enter__(self) -> FloorSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if len(self.samples) < 3:  # a very short cell: a few more samples, same conditions as can be had
            for _ in range(3 - len(self.samples)):
                start = time.thread_time()
                bare_parse(self._data)
                self.samples.append((time.thread_time() - start) / self._per)

    @property
    def median_us(self) -> float:
        """The median sample, µs per call."""
        return statistics.median(self.samples) * 1e6


@dataclass
class Cell:
    """The figures of one cell of the grid."""

    rate: float
    talk_s: float
    calls: int
    originations_per_s: float
    daemon_us: float
    sim_us: float
    floor_us: float
    floor_samples: int
    wire_to_end_ms: tuple[float, float]
    end_to_commit_ms: tuple[float, float]
    peak_live: int
    wall_s: float
    load: float
    exit_code: int
    profile_top: list[str]

    @property
    def ratio(self) -> float:
        """Daemon CPU per call over the floor."""
        return self.daemon_us / self.floor_us

    def row(self) -> str:
        """One line of the grid's table (markdown)."""
        rate = "none" if self.rate >= UNLIMITED else f"{self.rate:g}/s"
        wire, commit = self.wire_to_end_ms, self.end_to_commit_ms
        return (f"| {rate} | {self.talk_s:g} s | {self.calls:,} | {self.originations_per_s:,.0f} | "
                f"{self.peak_live:,} | {self.daemon_us:,.0f} µs | {self.sim_us:,.0f} µs | {self.floor_us:,.0f} µs "
                f"({self.floor_samples}) | **{self.ratio:.2f}x** | {wire[0]:.1f} / {wire[1]:.1f} ms | "
                f"{commit[0]:.1f} / {commit[1]:.1f} ms | {self.load:.1f} |")


HEADER = ("| rate | talk | calls | originations/s | peak live | daemon CPU/call | simulator CPU/call | "
          "floor (samples) | daemon ÷ floor | Hangup sent → ended p50 / p99 | ended → committed p50 / p99 | "
          "load |\n|---|---|---|---|---|---|---|---|---|---|---|---|")


def quantiles(values: list[float]) -> tuple[float, float]:
    """p50 and p99 (nearest rank) of `values`."""
    if not values:
        return float("nan"), float("nan")
    ordered = sorted(values)
    return (ordered[min(len(ordered) - 1, int(0.5 * len(ordered)))],
            ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))])


def calls_for(rate: float, seconds: float, unlimited_calls: int) -> int:
    """Enough calls for `seconds` of originations at `rate` (at least 100)."""
    return unlimited_calls if rate >= UNLIMITED else max(100, int(rate * seconds))


def run_cell(workdir: Path, traffic: Traffic, *, rate: float, talk_s: float, calls: int,
             profile: bool) -> Cell:
    """One campaign of `calls` leads through `dialer run` at this rate and talk time."""
    with simulator(workdir, profile_toml(talk_s)) as (sim_process, port):
        config = write_config(workdir, port, concurrent=MAX_LIVE, rate=rate, channel=LOCAL_TRUNK)
        leads = workdir / "leads.csv"
        write_leads(leads, calls)
        dialer("import", "bench", str(leads), "--config", str(config))
        dialer("campaign", "pause", "bench", "--config", str(config))
        profile_path = workdir / "daemon.prof"
        daemon = Daemon(config, workdir / "daemon.log", profile=profile_path if profile else None)
        daemon.wait_for("ami_connected")
        time.sleep(1.0)  # the start-up's own work (integrity check, reconcile) out of the window
        pid, sim_pid = daemon.process.pid, sim_process.pid
        cpu0, sim0 = cpu_seconds(pid), cpu_seconds(sim_pid)
        load = os.getloadavg()[0]
        start = time.monotonic()
        db = workdir / "dialer.db"
        peak_live = 0
        with FloorSampler(traffic) as floor:
            dialer("campaign", "resume", "bench", "--config", str(config))
            while True:
                time.sleep(0.25)
                (ended, live), = query(db, "SELECT SUM(state = 'ended'), SUM(state <> 'ended') FROM attempts")
                peak_live = max(peak_live, live or 0)
                if (ended or 0) >= calls:
                    break
        cpu1, sim1 = cpu_seconds(pid), cpu_seconds(sim_pid)
        wall = time.monotonic() - start
        load = max(load, os.getloadavg()[0])
        code = daemon.stop()
        stopped = next(e for e in daemon.events() if e.get("event") == "stopped")
        sim_log = [json.loads(line) for line in (workdir / "sim.jsonl").read_text().splitlines()]
    originated = sorted(r["time"] for r in sim_log if r.get("kind") == "originate")
    sent = {r["call_id"]: r["time"] for r in sim_log if r.get("kind") == "end"}
    ended_at = dict(query(db, "SELECT call_id, ended_at FROM attempts WHERE ended_at IS NOT NULL"))
    wire = [(ended_at[c] - t) * 1000 for c, t in sent.items() if c in ended_at]
    span = originated[-1] - originated[0] if len(originated) > 1 else 0.0
    return Cell(rate=rate, talk_s=talk_s, calls=calls,
                originations_per_s=(len(originated) - 1) / span if span > 0 else float("inf"),
                daemon_us=(cpu1 - cpu0) / calls * 1e6, sim_us=(sim1 - sim0) / calls * 1e6,
                floor_us=floor.median_us, floor_samples=len(floor.samples), wire_to_end_ms=quantiles(wire),
                end_to_commit_ms=(float(stopped.get("commit_latency_p50_ms", "nan")),
                                  float(stopped.get("commit_latency_p99_ms", "nan"))),
                peak_live=peak_live, wall_s=wall, load=load, exit_code=code,
                profile_top=top_of(profile_path) if profile else [])


IDLE = ("poll", "select", "sleep")  # waiting in the event loop's selector: not work
STARTUP = ("<frozen", "compile", "exec", "marshal", "create_dynamic", "__build_class__")  # imports


def component(file: str, name: str) -> str:
    """Which part of the daemon a profiled function belongs to (a dialer module, or a library)."""
    path = Path(file)
    if "dialer" in path.parts:
        parts = path.parts[path.parts.index("dialer") + 1:]
        return "dialer." + (parts[0] if len(parts) > 1 else path.stem)
    for library in ("aiosqlite", "structlog", "pydantic", "asyncio", "json", "selectors", "threading", "queue",
                    "socket", "posix", "sqlite3", "_io"):
        if library in path.parts or path.stem == library or library in name:
            return library
    if "sqlite3" in name or "Cursor" in name or "Connection" in name:
        return "sqlite3 (C)"
    return "other"


def top_of(path: Path, count: int = 12) -> list[str]:
    """The daemon profile's own time per component, idle waits and start-up imports left out.

    Percentages are of the profiled work (own time of the whole run less those two); the profile
    covers the daemon's whole life (start-up, the cell's calls, the drain), under cProfile, so it
    runs slower than the figures and short cells weigh start-up more.
    """
    if not path.exists():
        return ["(no profile written)"]
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    parts: dict[str, float] = {}
    functions: list[tuple[float, str]] = []
    for (file, line, name), (_, _, tt, _, _) in stats.items():
        if any(word in name for word in IDLE) or any(word in file + name for word in STARTUP):
            continue
        key = component(file, name)
        parts[key] = parts.get(key, 0.0) + tt
        functions.append((tt, f"{Path(file).name}:{line} {name}" if file != "~" else name))
    total = sum(parts.values()) or 1.0
    rows = sorted(parts.items(), key=lambda kv: -kv[1])[:count]
    top = sorted(functions, reverse=True)[:8]
    return [f"profiled work {total:.2f} s (idle waits and imports left out): "
            + ", ".join(f"{name} {tt / total:.0%}" for name, tt in rows),
            "heaviest functions (own time): " + "; ".join(f"{what} {tt / total:.0%}" for tt, what in top)]


def main() -> None:
    """Run the grid and print the table with the command that produced it."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=float, nargs="+", default=list(RATES),
                        help=f"originations/s per cell ({UNLIMITED:g} = unlimited)")
    parser.add_argument("--talks", type=float, nargs="+", default=list(TALKS), help="talk seconds per cell")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of originations per paced cell")
    parser.add_argument("--unlimited-calls", type=int, default=10_000, help="calls in an unlimited cell")
    parser.add_argument("--floor-calls", type=int, default=1_000, help="calls recorded for the parse floor")
    parser.add_argument("--quick", action="store_true", help="one cell: 100/s, zero talk, 10 s")
    parser.add_argument("--profile", action="store_true", help="run the daemon under cProfile; print its top")
    args = parser.parse_args()
    if args.quick:
        args.rates, args.talks, args.seconds, args.floor_calls = [100.0], [0.0], 10.0, 300
    print(f"# python bench/throughput.py {' '.join(sys.argv[1:])}")
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    traffic: dict[float, Traffic] = {}
    for talk in args.talks:
        with tempfile.TemporaryDirectory() as tmp:
            traffic[talk] = record_traffic(Path(tmp), talk, args.floor_calls)
        t = traffic[talk]
        print(f"# traffic per answered call, talk {talk:g} s: {t.messages_per_call:.1f} messages, "
              f"{t.bytes_per_call / 1024:.1f} KiB (read=all user, Local channel pair; {t.calls} calls recorded)")
    print(HEADER, flush=True)
    cells = []
    for talk in args.talks:
        for rate in args.rates:
            calls = calls_for(rate, args.seconds, args.unlimited_calls)
            with tempfile.TemporaryDirectory() as tmp:
                cell = run_cell(Path(tmp), traffic[talk], rate=rate, talk_s=talk, calls=calls,
                                profile=args.profile)
            cells.append(cell)
            print(cell.row() + ("" if cell.exit_code == 0 else f" (daemon exit {cell.exit_code})"), flush=True)
            for line in cell.profile_top:
                print(f"#   {line}")
    unlimited = [c for c in cells if c.rate >= UNLIMITED]
    for talk in args.talks:
        base = next((c for c in unlimited if c.talk_s == talk), None)
        if base is None:
            continue
        spread = ", ".join(f"{'none' if c.rate >= UNLIMITED else f'{c.rate:g}/s'} {c.daemon_us / base.daemon_us:.2f}x"
                           for c in cells if c.talk_s == talk)
        print(f"# talk {talk:g} s, daemon CPU per call ÷ the unlimited cell's: {spread}")
    print(f"# load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
