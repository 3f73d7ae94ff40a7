"""The daemon as a separate process (`python -m dialer run`), its JSON log, and the config it reads."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DIALER = [sys.executable, "-m", "dialer"]
SECRET = "ops-secret"


def write_config(tmp_path: Path, port: int, *, concurrent: int = 20, rate: float = 100, ring_timeout_s: float = 20,
                 level: str = "info", retry: str = "", extra: str = "", ami: str = "reconnect_initial_s = 0.05\n"
                 "reconnect_max_s = 0.5\n", compliance: str = "", name: str = "dialer.toml") -> Path:
    """A config pointing at the simulator on `port`, one campaign `c1`, the secret from the environment.

    Open at any hour with no frequency limits (these tests are about operations, not calling
    windows); the other compliance rules apply as configured."""
    path = tmp_path / name
    path.write_text(f"""
[node]
name = "ops"
[database]
path = "dialer.db"
[logging]
level = "{level}"
format = "json"
[ami]
port = {port}
secret_env = "DIALER_AMI_SECRET"
ping_interval_s = 2.0
ping_timeout_s = 2.0
{ami}
[dialing]
poll_interval_s = 0.02
event_timeout_s = 5
drain_timeout_s = 20
[dialing.pacing]
max_concurrent_calls = {concurrent}
max_originations_per_s = {rate}
[compliance]
min_attempt_gap_s = 0
max_attempts_per_24h = 100
max_attempts_per_7d = 100
override_country_hours = true
skip_holidays = false
{compliance}
[compliance.calling_hours]
mon = ["00:00-24:00"]
tue = ["00:00-24:00"]
wed = ["00:00-24:00"]
thu = ["00:00-24:00"]
fri = ["00:00-24:00"]
sat = ["00:00-24:00"]
sun = ["00:00-24:00"]
{retry}
[trunks.sim]
channel = "Local/{{number}}@callees"
number_format = "e164_no_plus"
[campaigns.c1]
trunk = "sim"
caller_id = '"Ops" <+14155550100>'
context = "dialer"
ring_timeout_s = {ring_timeout_s}
[campaigns.c1.pacing]
max_concurrent_calls = {concurrent}
max_originations_per_s = {rate}
{extra}
""")
    return path


async def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> tuple[int, str, str]:
    """Run a dialer command to completion without blocking the event loop (the simulator runs on it)."""
    process = await asyncio.create_subprocess_exec(*DIALER, *args, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE, env={**os.environ, **(env or {})})
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def import_leads(config: Path, numbers: list[str], campaign: str = "c1") -> None:
    """`dialer import` a list of numbers."""
    csv = config.parent / f"leads-{len(numbers)}-{time.monotonic_ns()}.csv"
    csv.write_text("phone\n" + "\n".join(numbers) + "\n")
    code, _, stderr = await run_cli("import", campaign, str(csv), "--config", str(config))
    assert code == 0, stderr


class DaemonProcess:
    """`dialer run --config FILE` in its own process; its stdout (JSON lines) goes to a file."""

    def __init__(self, config: Path, *, env: dict[str, str] | None = None, log_name: str = "daemon.log",
                 command: list[str] | None = None) -> None:
        self.config = config
        self.command = command or DIALER  # a wrapper that runs the same CLI (fault injection)
        self.log_path = config.parent / log_name
        self.env = {**os.environ, "DIALER_AMI_SECRET": SECRET, **(env or {})}
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> DaemonProcess:
        """Start the process."""
        log = self.log_path.open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.command, "run", "--config", str(self.config), stdout=log, stderr=asyncio.subprocess.STDOUT,
                env=self.env)
        finally:
            log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def lines(self) -> list[dict[str, Any]]:
        """Every JSON log line written so far."""
        out = []
        if self.log_path.exists():
            for line in self.log_path.read_text().splitlines():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"event": "<not json>", "text": line})
        return out

    def events(self, name: str) -> list[dict[str, Any]]:
        """Log lines with this event name."""
        return [line for line in self.lines() if line.get("event") == name]

    async def wait_for_log(self, event: str, timeout: float = 60.0, count: int = 1) -> dict[str, Any]:
        """Wait until `count` lines with this event were logged; return the last."""
        await until(lambda: len(self.events(event)) >= count or self.exited, timeout, f"log event {event}")
        found = self.events(event)
        if len(found) < count:
            raise AssertionError(f"the daemon exited without logging {event}: {self.log_path.read_text()[-3000:]}")
        return found[-1]

    @property
    def exited(self) -> bool:
        return self.process is not None and self.process.returncode is not None

    def signal(self, signum: int) -> None:
        """Send a signal."""
        assert self.process is not None
        self.process.send_signal(signum)

    async def wait(self, timeout: float = 60.0) -> int:
        """Wait for the exit; the exit code."""
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (drain) and wait."""
        if not self.exited:
            self.signal(signal.SIGTERM)
        return await self.wait(timeout)

    async def kill(self) -> None:
        """SIGKILL and reap."""
        if not self.exited:
            self.signal(signal.SIGKILL)
        await self.wait(30)


async def until(check: Callable[[], bool], timeout: float = 60.0, what: str = "condition",
                poll_s: float = 0.05) -> None:
    """Wait (without blocking the loop) until `check()` is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(poll_s)


def query(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Read the daemon's database while it runs (WAL)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()


def sim_log(path: Path, kind: str) -> list[dict[str, Any]]:
    """The simulator's --log lines of one kind."""
    if not path.exists():
        return []
    return [r for r in (json.loads(line) for line in path.read_text().splitlines()) if r["kind"] == kind]
