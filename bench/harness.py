"""Shared parts of the benchmarks: the simulator and the daemon as separate processes, /proc readings."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# The simulator's callees answer at any hour, so benchmarks run at any hour: an explicit override of
# the country calling-hour presets (never do this for real numbers).
OPEN_ALL_DAY = ("override_country_hours = true\nskip_holidays = false\ncalling_hours = { "
                + ", ".join(f'{day} = ["00:00-24:00"]' for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
                + " }\n")
SIM_SECRET = "dialer-secret"  # the simulator's default user (dialer/sim/config.py)
DIALER = [sys.executable, "-m", "dialer"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def simulator(workdir: Path, profile: str, *, log: bool = True) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Run `dialer sim` with a profile (TOML text) in its own process; yields (process, port)."""
    profile_path = workdir / "profile.toml"
    profile_path.write_text(profile)
    args = [*DIALER, "sim", "--port", "0", "--profile", str(profile_path), "--spool-dir", str(workdir / "spool")]
    if log:
        args += ["--log", str(workdir / "sim.jsonl")]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"simulator did not start: {line!r}")
        yield process, int(line.rsplit(":", 1)[1])
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def write_config(workdir: Path, port: int, *, concurrent: int, rate: float, ring_timeout_s: float = 30.0,
                 channel: str = "PJSIP/{number}@carrier", name: str = "bench", ping_s: float = 10.0,
                 event_timeout_s: float = 120, extra: str = "") -> Path:
    """A daemon config pointing at the simulator, node and campaign both called `name`.

    The calling window is open at any hour (the simulator's callees) and the frequency caps are off;
    every other compliance rule applies. `extra` is appended as more TOML (e.g. retry rules).
    """
    path = workdir / "dialer.toml"
    path.write_text(f"""
[node]
name = "{name}"
[database]
path = "dialer.db"
[logging]
format = "json"
[ami]
port = {port}
secret_env = "DIALER_AMI_SECRET"
ping_interval_s = {ping_s}
ping_timeout_s = {ping_s}
[dialing]
poll_interval_s = 0.05
claim_batch = 500
event_timeout_s = {event_timeout_s}
drain_timeout_s = 5
[dialing.pacing]
max_concurrent_calls = {concurrent}
max_originations_per_s = {rate}
[compliance]
min_attempt_gap_s = 0
max_attempts_per_24h = 100
max_attempts_per_7d = 100
{OPEN_ALL_DAY}[trunks.sim]
channel = "{channel}"
number_format = "e164_no_plus"
[campaigns.{name}]
trunk = "sim"
caller_id = '"{name.title()}" <+14155550100>'
context = "dialer"
ring_timeout_s = {ring_timeout_s}
[campaigns.{name}.pacing]
max_concurrent_calls = {concurrent}
max_originations_per_s = {rate}
{extra}
""")
    return path


def write_leads(path: Path, count: int, *, start: int = 0) -> None:
    """`count` distinct valid US numbers (area codes 212/312/415/617...), one per row."""
    area_codes = ("212", "312", "415", "617", "713", "206", "303", "404", "503", "602")
    with path.open("w") as handle:
        handle.write("phone\n")
        for i in range(start, start + count):
            area = area_codes[i % len(area_codes)]
            rest = i // len(area_codes)
            handle.write(f"+1{area}{200 + rest // 10000:03d}{rest % 10000:04d}\n")


def dialer(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a dialer command to completion."""
    result = subprocess.run([*DIALER, *args], capture_output=True, text=True, env={**os.environ, **(env or {})})
    if check and result.returncode != 0:
        raise RuntimeError(f"dialer {' '.join(args)} failed: {result.stderr}")
    return result


class Daemon:
    """`dialer run` in its own process, its JSON log in a file."""

    def __init__(self, config: Path, log_path: Path, *, profile: Path | None = None) -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        # With `profile`, under cProfile (its stats written there when the daemon exits on SIGTERM).
        python = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "dialer"] if profile else DIALER
        self.process = subprocess.Popen([*python, "run", "--config", str(config)], stdout=self._log,
                                        stderr=subprocess.STDOUT, env={**os.environ,
                                                                       "DIALER_AMI_SECRET": SIM_SECRET})

    def events(self) -> list[dict[str, Any]]:
        """The log lines written so far."""
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def wait_for(self, event: str, timeout: float = 60.0) -> None:
        """Wait until a log line with this event appears."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e.get("event") == event for e in self.events()):
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        raise TimeoutError(event)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self._log.close()
        return code


def query(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """A read-only query on the daemon's database (WAL lets us read while it writes)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()
