"""The command line as a user runs it: separate processes, real files, the simulator over TCP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import LONG, SECRET, number, rows, sim_log

DIALER = [sys.executable, "-m", "dialer"]


def dialer(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DIALER, *args], capture_output=True, text=True, cwd=cwd, timeout=120,
                          env={**os.environ, **(env or {})})


# These tests are about the command line, not the calling window: open all day (see PIPELINE_POLICY).
OPEN_ALL_DAY = """
[compliance]
override_country_hours = true
skip_holidays = false
min_attempt_gap_s = 0
[compliance.calling_hours]
mon = ["00:00-24:00"]
tue = ["00:00-24:00"]
wed = ["00:00-24:00"]
thu = ["00:00-24:00"]
fri = ["00:00-24:00"]
sat = ["00:00-24:00"]
sun = ["00:00-24:00"]
"""


def write_config(tmp_path: Path, port: int, *, secret_mode: int = 0o600, extra: str = "",
                 compliance: str = OPEN_ALL_DAY) -> Path:
    secret = tmp_path / "ami-secret"
    secret.write_text(SECRET + "\n")
    os.chmod(secret, secret_mode)
    path = tmp_path / "dialer.toml"
    path.write_text(f"""
[database]
path = "dialer.db"
[logging]
format = "json"
[ami]
port = {port}
secret_file = "{secret}"
reconnect_initial_s = 0.05
[dialing]
poll_interval_s = 0.02
drain_timeout_s = 20
[dialing.pacing]
max_concurrent_calls = 20
max_originations_per_s = 100
[trunks.sim]
channel = "Local/{{number}}@callees"
number_format = "e164_no_plus"
[campaigns.c1]
trunk = "sim"
caller_id = '"Test" <+14155550100>'
context = "dialer"
[campaigns.c1.pacing]
max_concurrent_calls = 20
max_originations_per_s = 100
{extra}
{compliance}
""")
    return path


def test_check_config_names_the_file_the_key_and_the_reason(tmp_path):
    path = write_config(tmp_path, 5038, extra="[campaigns.c2]\ntrunk = 'nope'\ncaller_id = '1'\n")
    result = dialer("check-config", str(path))
    assert result.returncode == 2
    assert f"{path}: campaigns.c2.trunk: unknown trunk 'nope' (defined: sim)" in result.stderr


def test_check_config_prints_the_resolved_config_with_the_secret_masked(tmp_path):
    path = write_config(tmp_path, 5038)
    result = dialer("check-config", str(path))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ami"]["secret"] == "***"
    assert SECRET not in result.stdout + result.stderr
    assert data["database"]["path"] == str(tmp_path / "dialer.db")


def test_run_refuses_a_secret_file_other_users_can_read(tmp_path):
    path = write_config(tmp_path, 5038, secret_mode=0o644)
    result = dialer("run", "--config", str(path))
    assert result.returncode == 78  # EX_CONFIG: systemd does not retry it
    assert "readable by other users" in result.stderr


def test_import_reports_each_bad_row_and_imports_the_rest(tmp_path):
    path = write_config(tmp_path, 5038)
    csv = tmp_path / "leads.csv"
    csv.write_text("phone,name\n4155552671,Ada\nnot-a-number,Bob\n,Carol\n2125550199,Dan\n4155552671,Ada L\n")
    result = dialer("import", "c1", str(csv), "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert f"{csv}:line 3: number: number contains characters that are not allowed" in result.stderr
    assert f"{csv}:line 4: number: empty" in result.stderr
    assert "2 numbers imported into c1 as list 'leads.csv'" in result.stdout
    assert "1 duplicate rows (merged into the first row of their number), 2 bad rows skipped" in result.stdout
    strict = dialer("import", "c1", str(csv), "--config", str(path), "--strict")
    assert strict.returncode == 1
    assert "nothing imported (--strict)" in strict.stderr


def test_import_into_an_unknown_campaign_is_refused(tmp_path):
    path = write_config(tmp_path, 5038)
    csv = tmp_path / "leads.csv"
    csv.write_text("phone\n4155552671\n")
    result = dialer("import", "nope", str(csv), "--config", str(path))
    assert result.returncode == 2
    assert "campaign 'nope' is not defined in the config (defined: c1)" in result.stderr


async def test_sigterm_stops_originating_lets_live_calls_finish_and_exits_zero(tmp_path, sim):
    path = write_config(tmp_path, sim.port)
    csv = tmp_path / "leads.csv"
    csv.write_text("phone\n" + "\n".join(number(LONG, i) for i in range(60)) + "\n")
    assert dialer("import", "c1", str(csv), "--config", str(path)).returncode == 0
    process = await asyncio.create_subprocess_exec(*DIALER, "run", "--config", str(path),
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(60):
        while sim.live_call_count < 10:
            await asyncio.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    stopped_at = time.time()
    async with asyncio.timeout(60):
        stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert sim.live_call_count == 0
    config_rows = await rows_for(path)
    assert config_rows, "some calls were made"
    assert all(r["state"] == "ended" for r in config_rows)
    assert len(config_rows) < 60  # it stopped originating
    assert max(o["time"] for o in sim_log(tmp_path)) <= stopped_at + 0.5
    lines = [json.loads(line) for line in stdout.decode().splitlines()]
    assert any(line["event"] == "draining" for line in lines)
    assert all("4155550" not in line for line in stdout.decode().splitlines())  # numbers are masked


async def rows_for(config_path: Path) -> list[dict]:
    from dialer.config import load_config

    return await rows(load_config(config_path, require_secret=False), "SELECT state FROM attempts")


def test_demo_runs_to_completion_and_report_reads_its_folder(tmp_path):
    workdir = tmp_path / "demo"
    result = dialer("demo", "--workdir", str(workdir), "--leads", "40", "--time-scale", "0.02")
    assert result.returncode == 0, result.stderr
    assert "demo finished" in result.stdout
    report = dialer("report", "--workdir", str(workdir), "--format", "json")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["open_attempts"] == 0
    assert data["calls"] == sum(data["by_disposition"].values())
    assert "pending" not in data["leads_by_status"]
    assert "dialing" not in data["leads_by_status"]
    assert sum(data["leads_by_status"].values()) == 40
    csv_out = dialer("report", "--workdir", str(workdir), "--format", "csv")
    assert csv_out.stdout.startswith("metric,key,value")


@pytest.fixture
async def sim(tmp_path):
    from dialer.sim import SimConfig, SimServer, SimUser

    config = SimConfig(users={"dialer": SimUser(secret=SECRET)}, spool_dir=tmp_path / "spool", time_scale=0.02,
                       log_path=tmp_path / "sim.jsonl")
    async with SimServer(config) as server:
        yield server
