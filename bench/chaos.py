"""Chaos run: SIGKILL the daemon while it dials, restart the PBX, drop the AMI connection, then prove
from the simulator's own log of what each call did (and the database) that nothing was dialled twice,
lost, unallowed, or dialled again after the callee answered or opted out.

    python bench/chaos.py                                   # 2,000 leads, 20 kills, 2 PBX restarts, 3 AMI drops
    python bench/chaos.py --calls 200 --kills 4 --pbx-restarts 1 --ami-drops 1 --seed 7 --details

The simulator (`dialer sim --log --cdr`) and the daemon (`dialer run`) are separate processes, as in
production; the simulator writes Asterisk's cdr_custom record (config/asterisk/cdr_custom.conf) and the
daemon reads it ([pbx_record]). Each kill waits until that daemon has logged an Originate (it is
dialing), then a seeded while. An AMI drop is SIGUSR1 to the simulator (every client socket closed,
calls go on). Prints exactly one line

    chaos: kills=K pbx_restarts=R ami_drops=A calls=N double_dials=D lost=L unallowed=U unknown=X
           unknown_received=Y recalled_after_answer=RA recalled_after_optout=RO mismatched=M

(on one line) and exits non-zero unless D = L = U = RA = RO = 0, where
  D:  call ids originated more than once, plus numbers the PBX had two calls up for at once;
  L:  attempts without a final outcome once the campaign has settled, plus calls the PBX placed (made a
      channel for) whose outcome the dialer recorded as unknown;
  U:  originations without an attempt row whose audit row says allow;
  X:  attempts whose outcome is unknown; Y: those of them the PBX received (X - Y never reached it);
  RA: originations of a number after the PBX saw a call to it answered (a person, not a machine);
  RO: originations of a number after its callee pressed the opt-out key (the dialplan's CDR variable);
  M:  calls the PBX ended with one outcome that the dialer recorded as another (rejected may read as
      no_answer when settled from the record: Asterisk's CDR says NO ANSWER for both).
--details adds, on stderr, the reconnect delays after each PBX restart, the outcomes and the mismatches.
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
# Numbers ending in 7 answer and press the opt-out key 1.5 s later; the rest are drawn at random.
[[rules]]
match = "7$"
outcome = "optout"
ring_s = 0.5
dtmf_s = 1.5
recording = "omit"

[random]
weights = {{ answered = 5, busy = 2, no_answer = 1, congestion = 1, rejected = 1 }}
ring_s = {{ dist = "uniform", low = 0.2, high = 2.0 }}
talk_s = {{ dist = "uniform", low = 0.5, high = {talk_high} }}
recording_omit_fraction = 1.0
"""

RETRIES = "".join(
    f"[retry.rules.{disposition}]\ndelay_s = 1\nmax_attempts = {attempts}\n"
    for disposition, attempts in (("busy", 2), ("no_answer", 2), ("congestion", 2), ("failed", 2), ("unknown", 3),
                                  ("rejected", 2))
)
# Asterisk's record, read by the daemon (the simulator writes it where --cdr says).
PBX_RECORD = """
[pbx_record]
enabled = true
path = "{path}"
grace_s = 5.0
"""
ANSWERED_BY_PERSON = frozenset({"answered", "optout", "callback", "long", "answered_rejected"})


@dataclass
class Sim:
    """The simulator process; restarted on the same port like a PBX coming back."""

    workdir: Path
    seed: int
    port: int = 0
    process: subprocess.Popen[str] | None = None
    stopped_at: list[float] = field(default_factory=list)  # when each PBX generation went away
    back_at: list[float] = field(default_factory=list)  # when each restarted one listened again

    @property
    def cdr_path(self) -> Path:
        """Where the simulated Asterisk writes its cdr_custom record."""
        return self.workdir / "cdr-custom" / "dialer.csv"

    def start(self) -> float:
        """Start a simulator (port 0 the first time, then the same port); returns when it listens."""
        generation = len(self.stopped_at)
        args = [*DIALER, "sim", "--port", str(self.port), "--profile", str(self.workdir / "profile.toml"),
                "--log", str(self.workdir / "sim.jsonl"), "--spool-dir", str(self.workdir / "spool"),
                "--cdr", str(self.cdr_path), "--seed", str(self.seed + generation)]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        return time.time()

    def drop_clients(self) -> None:
        """SIGUSR1: the simulator closes every AMI client socket; calls go on (transcript 22)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGUSR1)

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

    def count(self, event: str) -> int:
        """Log lines with this event so far."""
        return sum(1 for line in self.lines() if line.get("event") == event)

    def wait_for(self, event: str, count: int = 1, timeout_s: float = 60.0) -> bool:
        """Wait until the daemon logged `event` `count` times (False if it did not, or exited)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.process.poll() is None:
            if self.count(event) >= count:
                return True
            time.sleep(0.05)
        return False

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
    unknown: int = 0
    unknown_received: int = 0
    recalled_after_answer: int = 0
    recalled_after_optout: int = 0
    mismatched: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No double dial, nothing lost or unallowed, nobody called again after answering or opting out."""
        return not (self.double_dials or self.lost or self.unallowed or self.recalled_after_answer
                    or self.recalled_after_optout)


def expected_dispositions(end: dict[str, Any]) -> set[str] | None:
    """The dispositions the dialer may record for a call the simulator ended; None: any final one
    (hung up by a PBX shutdown or by the dialer before the callee decided)."""
    pressed = "dialer_optout" in end.get("cdr_vars", {})
    if end.get("talk_s") is not None:
        if pressed:
            return {"opted_out"}
        if end.get("outcome") == "machine":
            return {"machine", "answered"}
        return {"answered"}
    if end.get("hangup_by") in ("shutdown", "pbx", "client"):
        return None
    return {
        "busy": {"busy"}, "no_answer": {"no_answer"}, "congestion": {"congestion"},
        "rejected": {"rejected", "no_answer"}, "unallocated": {"invalid_number", "no_answer"},
    }.get(str(end.get("outcome")))


def _number(record: dict[str, Any]) -> str:
    return str(record["channel"]).split("/", 1)[1].split("@", 1)[0]


def check(workdir: Path, sim: Sim) -> Verdict:
    """Compare the simulator's log (originations, and how each call ended) with the database."""
    records = [json.loads(line) for line in (workdir / "sim.jsonl").read_text().splitlines()]
    originations = [r for r in records if r["kind"] == "originate"]
    ends = {r["call_id"]: r for r in records if r["kind"] == "end"}
    ended = {call_id: r["time"] for call_id, r in ends.items()}
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
        spans.setdefault(_number(record), []).append((record["time"], end_of(record)))
    for intervals in spans.values():
        intervals.sort()
        double += sum(1 for a, b in itertools.pairwise(intervals) if b[0] < a[1])
    # Called again after a person answered, or after the opt-out key: count the later originations.
    recalled_answer = recalled_optout = 0
    by_number: dict[str, list[dict[str, Any]]] = {}
    for record in originations:
        by_number.setdefault(_number(record), []).append(record)
    for calls in by_number.values():
        calls.sort(key=lambda r: r["time"])
        answered = [r["time"] for r in calls if ends.get(r["action_id"], {}).get("talk_s") is not None
                    and ends[r["action_id"]].get("outcome") in ANSWERED_BY_PERSON]
        opted = [r["time"] for r in calls if "dialer_optout" in ends.get(r["action_id"], {}).get("cdr_vars", {})]
        if answered:
            recalled_answer += sum(1 for r in calls if r["time"] > answered[0])
        if opted:
            recalled_optout += sum(1 for r in calls if r["time"] > opted[0])
    db = workdir / "dialer.db"
    attempts = {row[0]: (row[1], row[2]) for row in query(db, "SELECT call_id, state, disposition FROM attempts")}
    open_attempts = sum(1 for state, disposition in attempts.values() if state != "ended" or disposition is None)
    unknown_ids = {c for c, (_, d) in attempts.items() if d in ("unknown", "unknown_after_restart")}
    received = {c for c in unknown_ids if c in ids}
    # An outcome is lost when the PBX placed the call (made a channel) and the dialer recorded unknown.
    lost = open_attempts + sum(1 for c in received if c in ends and ends[c].get("uniqueid") != "<unknown>")
    allowed = {row[0] for row in query(db, "SELECT a.call_id FROM attempts a JOIN audit g ON g.id = a.audit_id "
                                           "WHERE g.verdict = 'allow' AND g.kind = 'gate'")}
    unallowed = sum(1 for call_id in ids if call_id not in allowed)
    mismatches = []
    for call_id, end in ends.items():
        wanted = expected_dispositions(end)
        recorded = attempts.get(call_id, (None, None))[1]
        if wanted is not None and recorded not in wanted and recorded not in ("unknown", "unknown_after_restart"):
            mismatches.append(f"{call_id}: PBX {end.get('outcome')} (talk {end.get('talk_s')}), dialer {recorded}")
    dispositions = Counter({row[0]: row[1] for row in query(
        db, "SELECT disposition, COUNT(*) FROM attempts GROUP BY disposition")})
    return Verdict(len(originations), double, int(lost), unallowed, dispositions, unknown=len(unknown_ids),
                   unknown_received=len(received), recalled_after_answer=recalled_answer,
                   recalled_after_optout=recalled_optout, mismatched=len(mismatches), mismatches=mismatches)


@dataclass
class Tally:
    """What the run did to the daemon and the PBX."""

    kills: int = 0
    restarts: int = 0
    drops: int = 0
    delays: list[float] = field(default_factory=list)  # PBX back -> daemon logged in again, seconds


def _spread(count: int, over: int, offset: float = 0.0) -> set[int]:
    """`count` kill indexes spread evenly over `over` kills."""
    return {min(over - 1, round((i + 1) * over / (count + 1) + offset)) for i in range(count)} if count else set()


def _restart_pbx(sim: Sim, daemon: DaemonRun, rng: random.Random, args: argparse.Namespace, tally: Tally) -> None:
    time.sleep(rng.uniform(1.0, 2.5))  # let it dial a while first
    sim.restart(rng.uniform(0.5, args.max_down_s))
    tally.restarts += 1
    back = sim.back_at[-1]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        logins = [unix(e["timestamp"]) for e in daemon.lines()
                  if e.get("event") == "ami_connected" and unix(e["timestamp"]) >= back]
        if logins:
            tally.delays.append(min(logins) - back)
            break
        time.sleep(0.05)


def _drop_ami(sim: Sim, daemon: DaemonRun, rng: random.Random, tally: Tally) -> None:
    time.sleep(rng.uniform(0.5, 1.5))
    logins = daemon.count("ami_connected")
    sim.drop_clients()
    tally.drops += 1
    daemon.wait_for("ami_connected", logins + 1, timeout_s=30)  # reconciled at the new login


def run(args: argparse.Namespace, workdir: Path) -> tuple[Tally, Verdict, int]:
    """The chaos run; returns (what was done, the verdict, the last daemon's exit code)."""
    rng = random.Random(args.seed)
    (workdir / "profile.toml").write_text(PROFILE.format(talk_high=args.talk_high))
    sim = Sim(workdir, args.seed)
    sim.start()
    write_config(workdir, sim.port, concurrent=args.concurrent, rate=args.rate, ring_timeout_s=3,
                 channel="Local/{number}@callees", name="chaos", ping_s=2.0, event_timeout_s=10,
                 extra=RETRIES + PBX_RECORD.format(path=sim.cdr_path))
    leads = workdir / "leads.csv"
    write_leads(leads, args.calls)
    dialer("import", "chaos", str(leads), "--config", str(workdir / "dialer.toml"))
    # PBX restarts and AMI drops fall between kills, spread over the run.
    restart_at = _spread(args.pbx_restarts, args.kills)
    drop_at = _spread(args.ami_drops, args.kills, offset=-0.5) - restart_at
    runs: list[DaemonRun] = []
    tally = Tally()
    try:
        for kill in range(args.kills):
            daemon = DaemonRun(workdir, len(runs))
            runs.append(daemon)
            # Only a daemon that is dialing is killed: it has logged an Originate.
            if not daemon.wait_for("originating", timeout_s=60):
                break  # nothing left to dial (or it failed to start): no kill can hit a campaign now
            if kill in restart_at:
                _restart_pbx(sim, daemon, rng, args, tally)
            elif kill in drop_at:
                _drop_ami(sim, daemon, rng, tally)
            time.sleep(rng.uniform(args.min_uptime_s, args.max_uptime_s))
            daemon.kill()
            tally.kills += 1
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
    return tally, check(workdir, sim), code


def main() -> int:
    """Run, print the one line, exit 0 only if the verdict is clean (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="leads in the campaign")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of the daemon (each once it dials)")
    parser.add_argument("--pbx-restarts", type=int, default=2, help="restarts of the simulator")
    parser.add_argument("--ami-drops", type=int, default=3, help="AMI connections dropped by the simulator")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrent", type=int, default=60, help="calls up at once")
    parser.add_argument("--rate", type=float, default=60.0, help="originations per second")
    parser.add_argument("--talk-high", type=float, default=4.0, help="longest talk time, seconds")
    parser.add_argument("--min-uptime-s", type=float, default=1.0, help="shortest dialing time before a kill")
    parser.add_argument("--max-uptime-s", type=float, default=4.0, help="longest dialing time before a kill")
    parser.add_argument("--max-down-s", type=float, default=3.0, help="longest PBX outage")
    parser.add_argument("--settle-timeout-s", type=float, default=900.0)
    parser.add_argument("--workdir", type=Path, help="keep the files here (default: a temporary folder)")
    parser.add_argument("--details", action="store_true", help="reconnect delays, outcomes, mismatches on stderr")
    args = parser.parse_args()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        tally, verdict, code = run(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="dialer-chaos-") as tmp:
            tally, verdict, code = run(args, Path(tmp))
    print(f"chaos: kills={tally.kills} pbx_restarts={tally.restarts} ami_drops={tally.drops} calls={verdict.calls} "
          f"double_dials={verdict.double_dials} lost={verdict.lost} unallowed={verdict.unallowed} "
          f"unknown={verdict.unknown} unknown_received={verdict.unknown_received} "
          f"recalled_after_answer={verdict.recalled_after_answer} "
          f"recalled_after_optout={verdict.recalled_after_optout} mismatched={verdict.mismatched}", flush=True)
    if args.details:
        shown = ", ".join(f"{d:.2f} s" for d in tally.delays) or "none measured"
        print(f"reconnect after PBX back: {shown}; final daemon exit {code}; outcomes: "
              f"{dict(sorted(verdict.dispositions.items()))}", file=sys.stderr)
        for line in verdict.mismatches[:20]:
            print(f"mismatch {line}", file=sys.stderr)
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
