"""Chaos run: SIGKILL the daemon at random moments and restart the PBX, then prove from the
simulator's origination log and the database that nothing was dialled twice, lost, or unallowed.

    python bench/chaos.py                                   # 2,000 leads, 20 kills, 2 PBX restarts
    python bench/chaos.py --calls 200 --kills 4 --pbx-restarts 1 --seed 7 --details

The simulator (`dialer sim --log`) and the daemon (`dialer run`) are separate processes, as in
production. The kill moments and the callee behaviour are seeded. Prints exactly one line

    chaos: kills=K pbx_restarts=R calls=N double_dials=D lost=L unallowed=U

and exits non-zero unless D = L = U = 0, where
  D: call ids originated more than once, plus numbers the PBX had two calls up for at once;
  L: attempts without a final outcome once the campaign has settled;
  U: originations without an attempt row whose audit row says allow.
--details adds, on stderr, the measured reconnect delays after each PBX restart and the outcomes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import DIALER, SIM_SECRET, dialer, query, write_config, write_leads

PROFILE = """
[random]
weights = {{ answered = 5, busy = 2, no_answer = 1, congestion = 1, rejected = 1 }}
ring_s = {{ dist = "uniform", low = 0.2, high = 2.0 }}
talk_s = {{ dist = "uniform", low = 0.5, high = {talk_high} }}
recording_omit_fraction = 1.0
"""

RETRIES = "".join(
    f"[retry.rules.{disposition}]\ndelay_s = 1\nmax_attempts = {attempts}\n"
    for disposition, attempts in (("busy", 2), ("no_answer", 2), ("congestion", 2), ("failed", 2), ("unknown", 3))
)


@dataclass
class Sim:
    """The simulator process; restarted on the same port like a PBX coming back."""

    workdir: Path
    seed: int
    port: int = 0
    process: subprocess.Popen[str] | None = None
    stopped_at: list[float] = field(default_factory=list)  # when each PBX generation went away
    back_at: list[float] = field(default_factory=list)  # when each restarted one listened again

    def start(self) -> float:
        """Start a simulator (port 0 the first time, then the same port); returns when it listens."""
        generation = len(self.stopped_at)
        args = [*DIALER, "sim", "--port", str(self.port), "--profile", str(self.workdir / "profile.toml"),
                "--log", str(self.workdir / "sim.jsonl"), "--spool-dir", str(self.workdir / "spool"),
                "--seed", str(self.seed + generation)]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        return time.time()

    def stop(self) -> None:
        """SIGTERM: like `core stop now` (live calls hung up, Shutdown, sockets closed)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.stopped_at.append(time.time())

    def restart(self, down_s: float) -> None:
        """Stop, stay down for `down_s`, come back on the same port."""
        self.stop()
        time.sleep(down_s)
        self.back_at.append(self.start())


class DaemonRun:
    """One `dialer run` process; its JSON log in its own file."""

    def __init__(self, workdir: Path, index: int) -> None:
        self.log_path = workdir / f"daemon-{index:02d}.log"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen([*DIALER, "run", "--config", str(workdir / "dialer.toml")],
                                            stdout=log, stderr=subprocess.STDOUT,
                                            env={**os.environ, "DIALER_AMI_SECRET": SIM_SECRET})

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(120)


def unix(timestamp: str) -> float:
    """A log line's ISO timestamp as unix seconds."""
    return datetime.fromisoformat(timestamp).timestamp()


def settled(db: Path) -> bool:
    """Every lead has reached a final status and no attempt is live."""
    (open_leads, live), = query(db, "SELECT (SELECT COUNT(*) FROM leads WHERE status IN ('pending', 'dialing')), "
                                    "(SELECT COUNT(*) FROM attempts WHERE state <> 'ended')")
    return open_leads == 0 and live == 0


@dataclass
class Verdict:
    """What the checks found."""

    calls: int
    double_dials: int
    lost: int
    unallowed: int
    dispositions: Counter[str]


def check(workdir: Path, sim: Sim) -> Verdict:
    """Compare the simulator's origination log with the database."""
    records = [json.loads(line) for line in (workdir / "sim.jsonl").read_text().splitlines()]
    originations = [r for r in records if r["kind"] == "originate"]
    ended = {r["call_id"]: r["time"] for r in records if r["kind"] == "end"}
    # A call the log never saw end lived at most until its PBX went away.
    stops = sorted(sim.stopped_at)

    def end_of(record: dict[str, Any]) -> float:
        if record["action_id"] in ended:
            return float(ended[record["action_id"]])
        return next((t for t in stops if t >= record["time"]), float("inf"))

    ids = Counter(r["action_id"] for r in originations)
    double = sum(n - 1 for n in ids.values() if n > 1)
    spans: dict[str, list[tuple[float, float]]] = {}
    for record in originations:
        number = record["channel"].split("/", 1)[1].split("@", 1)[0]
        spans.setdefault(number, []).append((record["time"], end_of(record)))
    for intervals in spans.values():
        intervals.sort()
        double += sum(1 for a, b in itertools.pairwise(intervals) if b[0] < a[1])
    db = workdir / "dialer.db"
    lost = query(db, "SELECT COUNT(*) FROM attempts WHERE state <> 'ended' OR disposition IS NULL")[0][0]
    allowed = {row[0] for row in query(db, "SELECT a.call_id FROM attempts a JOIN audit g ON g.id = a.audit_id "
                                           "WHERE g.verdict = 'allow' AND g.kind = 'gate'")}
    unallowed = sum(1 for call_id in ids if call_id not in allowed)
    dispositions = Counter({row[0]: row[1] for row in query(
        db, "SELECT disposition, COUNT(*) FROM attempts GROUP BY disposition")})
    return Verdict(len(originations), double, int(lost), unallowed, dispositions)


def run(args: argparse.Namespace, workdir: Path) -> tuple[int, int, Verdict, list[float], int]:
    """The chaos run; returns (kills, pbx restarts, verdict, reconnect delays, last exit code)."""
    rng = random.Random(args.seed)
    (workdir / "profile.toml").write_text(PROFILE.format(talk_high=args.talk_high))
    sim = Sim(workdir, args.seed)
    sim.start()
    write_config(workdir, sim.port, concurrent=args.concurrent, rate=args.rate, ring_timeout_s=3,
                 channel="Local/{number}@callees", name="chaos", ping_s=2.0, event_timeout_s=10, extra=RETRIES)
    leads = workdir / "leads.csv"
    write_leads(leads, args.calls)
    dialer("import", "chaos", str(leads), "--config", str(workdir / "dialer.toml"))
    # The PBX restarts fall between kills, spread over the run.
    restart_after = {round((i + 1) * args.kills / (args.pbx_restarts + 1)) for i in range(args.pbx_restarts)}
    runs: list[DaemonRun] = []
    kills = restarts = 0
    delays: list[float] = []
    try:
        for kill in range(args.kills):
            daemon = DaemonRun(workdir, len(runs))
            runs.append(daemon)
            if kill in restart_after and restarts < args.pbx_restarts:
                time.sleep(rng.uniform(1.5, 3.0))  # let it dial a while first
                sim.restart(rng.uniform(0.5, args.max_down_s))
                restarts += 1
                back = sim.back_at[-1]
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    logins = [unix(e["timestamp"]) for e in daemon.lines()
                              if e.get("event") == "ami_connected" and unix(e["timestamp"]) >= back]
                    if logins:
                        delays.append(min(logins) - back)
                        break
                    time.sleep(0.05)
            time.sleep(rng.uniform(args.min_uptime_s, args.max_uptime_s))
            daemon.kill()
            kills += 1
            time.sleep(rng.uniform(0.0, 1.0))
        final = DaemonRun(workdir, len(runs))
        runs.append(final)
        deadline = time.monotonic() + args.settle_timeout_s
        while not settled(workdir / "dialer.db") and time.monotonic() < deadline and final.process.poll() is None:
            time.sleep(0.25)
        code = final.stop()
    finally:
        for daemon in runs:
            if daemon.process.poll() is None:
                daemon.kill()
        sim.stop()
    return kills, restarts, check(workdir, sim), delays, code


def main() -> int:
    """Run, print the one line, exit 0 only if nothing was dialled twice, lost or unallowed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="leads in the campaign")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of the daemon")
    parser.add_argument("--pbx-restarts", type=int, default=2, help="restarts of the simulator")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrent", type=int, default=60, help="calls up at once")
    parser.add_argument("--rate", type=float, default=60.0, help="originations per second")
    parser.add_argument("--talk-high", type=float, default=4.0, help="longest talk time, seconds")
    parser.add_argument("--min-uptime-s", type=float, default=1.0, help="shortest life of a daemon before its kill")
    parser.add_argument("--max-uptime-s", type=float, default=4.0, help="longest life of a daemon before its kill")
    parser.add_argument("--max-down-s", type=float, default=3.0, help="longest PBX outage")
    parser.add_argument("--settle-timeout-s", type=float, default=900.0)
    parser.add_argument("--workdir", type=Path, help="keep the files here (default: a temporary folder)")
    parser.add_argument("--details", action="store_true", help="reconnect delays and outcomes on stderr")
    args = parser.parse_args()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        kills, restarts, verdict, delays, code = run(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="dialer-chaos-") as tmp:
            kills, restarts, verdict, delays, code = run(args, Path(tmp))
    print(f"chaos: kills={kills} pbx_restarts={restarts} calls={verdict.calls} double_dials={verdict.double_dials} "
          f"lost={verdict.lost} unallowed={verdict.unallowed}", flush=True)
    if args.details:
        shown = ", ".join(f"{d:.2f} s" for d in delays) or "none measured"
        print(f"reconnect after PBX back: {shown}; final daemon exit {code}; outcomes: "
              f"{dict(sorted(verdict.dispositions.items()))}", file=sys.stderr)
    ok = verdict.double_dials == 0 and verdict.lost == 0 and verdict.unallowed == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
