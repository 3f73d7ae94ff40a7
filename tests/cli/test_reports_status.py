"""Reports and status a person can read: 80 columns with a legend, a wide CSV, --tz, unknown campaigns
refused, and `status` telling whether a daemon runs on the database, its node, its AMI and live calls."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from dialer.daemon import Daemon, run_until_settled
from dialer.ops.status_file import read_status, status_path
from dialer.reports.text import render_table
from dialer.sim import SimConfig, SimServer, SimUser
from tests.cli.hostile import commands, run
from tests.e2e.conftest import ANSWERED, BUSY, LONG, SECRET, TIME_SCALE, make_config, number
from tests.e2e.test_compliance import write_toml
from tests.ops.helpers import until


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimServer]:
    config = SimConfig(users={"dialer": SimUser(secret=SECRET)}, spool_dir=tmp_path / "spool",
                       time_scale=TIME_SCALE, seed=7, log_path=tmp_path / "sim.jsonl")
    async with SimServer(config) as server:
        yield server


async def cli(*args: str) -> Any:
    return await asyncio.to_thread(run, list(args))


def _part(calls: int, texts: int = 0) -> dict[str, Any]:
    hours = [{"hour": h, "calls": calls, "answered": calls // 2, "answer_rate": 0.5} for h in range(24)]
    return {
        "calls": calls, "ended": calls, "open_attempts": 0, "unique_numbers": calls, "numbers_reached": calls,
        "answer_rate": 0.123, "abandon_rate": 0.0312, "abandon_rate_24h": 1.0, "abandon_rate_30d": 0.0299,
        "avg_talk_s": 12345.6, "talk_s_total": 1.0, "recordings_missing": 1_234_567,
        "by_disposition": {"unknown_after_restart": calls}, "leads_by_status": {"exhausted": calls},
        "gate_blocks": {"window.hours": 9_876_543}, "attempts_per_lead": {"mean": 1.5, "histogram": {"1": calls}},
        "answer_by_local_hour": hours, "best_hours": [9, 10, 11],
        "sms": {"sent": texts, "accepted": texts, "failed": 0, "replies": 0, "opt_outs": 0, "by_outcome": {}},
    }


def test_the_report_table_fits_80_columns_with_every_header_and_a_legend():
    long_name = "spring-sale-" + "x" * 52  # the longest campaign name the config allows (64)
    data = {"campaign": None, "since": "2026-01-01T00:00:00Z", "until": None, **_part(9_999_999, 999_999),
            "by_campaign": {long_name: _part(9_999_999, 999_999), "b": _part(1)}}
    console = Console(width=80, record=True, force_terminal=False)
    console.print(render_table(data))
    text = console.export_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if "calls" in line and "reached" in line)
    for column in ("campaign", "calls", "reached", "answer", "talk", "ab.24h", "ab.30d", "blocks"):
        assert column in header.split()
    assert "9,999,999" in text
    assert "9,876,543" in text
    assert any(line.split()[1:] == ["texts", "ok", "no", "rec."] for line in lines if line.strip())
    for words in ("ab.24h, ab.30d: abandoned / live-answered calls", "no rec.: calls without a good recording",
                  "texts ok: text messages accepted / sent", "reached: numbers where a person answered"):
        assert words in text


async def test_report_csv_wide_tz_and_an_unknown_campaign(tmp_path, sim):
    c1 = make_config(tmp_path, sim).campaigns["c1"].model_dump(mode="json", exclude_none=True)
    config = make_config(tmp_path, sim, extra={"campaigns": {"c1": c1, "c2": c1}})
    path = write_toml(config, tmp_path / "dialer.toml")
    cfg = ["--config", str(path)]
    for campaign, outcomes in (("c1", (ANSWERED, BUSY)), ("c2", (ANSWERED,))):
        leads = tmp_path / f"{campaign}.csv"
        leads.write_text("phone\n" + "".join(f"{number(o, i)}\n" for i, o in enumerate(outcomes, 40 if campaign == "c2"
                                                                                          else 0)))
        assert (await cli("import", campaign, str(leads), *cfg)).code == 0
    await run_until_settled(config, ["c1", "c2"])

    unknown = await cli("report", "--campaign", "nope", *cfg)
    assert unknown.code == 2
    assert unknown.stderr.strip() == "error: no campaign 'nope' in the config or the database (campaigns: c1, c2)"
    wide = await cli("report", "--format", "csv", "--wide", *cfg)
    assert wide.code == 0
    table = list(csv.DictReader(io.StringIO(wide.stdout)))
    assert [r["campaign"] for r in table] == ["c1", "c2", "all"]  # one row per campaign, then the whole
    assert [int(r["calls"]) for r in table] == [2, 1, 3]
    assert int(table[0]["by_disposition.busy"]) == 1
    assert table[1]["by_disposition.busy"] == "0"  # a figure a campaign does not have is 0, not missing
    assert "calls_hour_23" in table[0]
    assert (await cli("report", "--wide", *cfg)).code == 2

    utc = json.loads((await cli("report", "--format", "json", "--since", "2020-01-01", *cfg)).stdout)
    zoned = json.loads((await cli("report", "--format", "json", "--tz", "Asia/Kolkata", "--since", "2020-01-01",
                                  *cfg)).stdout)
    assert zoned["since"] == "2019-12-31T18:30:00Z"  # midnight in Kolkata
    assert zoned["since_local"] == "2020-01-01T00:00:00+05:30"
    assert zoned["hours_in"] == "Asia/Kolkata"
    shifted = {h["hour"]: h["calls"] for h in zoned["answer_by_local_hour"] if h["calls"]}
    callee = {h["hour"]: h["calls"] for h in utc["answer_by_local_hour"] if h["calls"]}
    assert sum(shifted.values()) == sum(callee.values()) == 3
    assert shifted != callee  # San Francisco's hours are not Kolkata's
    bad_zone = await cli("report", "--tz", "Mars/Olympus", *cfg)
    assert bad_zone.code == 2
    assert "not a time zone" in bad_zone.stderr


@pytest.fixture
async def slow_sim(tmp_path: Path) -> AsyncIterator[SimServer]:
    """Calls at their real length (30 s talks): still live while `status` looks."""
    config = SimConfig(users={"dialer": SimUser(secret=SECRET)}, spool_dir=tmp_path / "spool", time_scale=1.0,
                       seed=7, log_path=tmp_path / "sim.jsonl")
    async with SimServer(config) as server:
        yield server


async def test_status_says_whether_a_daemon_runs_its_node_ami_and_live_calls(tmp_path, slow_sim):
    sim = slow_sim
    config = make_config(tmp_path, sim, dialing={"drain_timeout_s": 0})
    path = write_toml(config, tmp_path / "dialer.toml")
    cfg = ["--config", str(path)]
    leads = tmp_path / "leads.csv"
    leads.write_text("phone\n" + "".join(f"{number(LONG, i)}\n" for i in range(3)))
    assert (await cli("import", "c1", str(leads), *cfg)).code == 0
    stopped = await cli("status", *cfg)
    assert stopped.stdout.splitlines()[0] == f"daemon: not running on {config.database.path}"

    daemon = Daemon(config, install_signals=False)
    task = asyncio.create_task(daemon.run())
    try:
        await until(lambda: sim.live_call_count == 3, what="three live calls")
        def published() -> bool:  # the daemon rewrites its status every STATUS_INTERVAL_S
            status = read_status(config.database.path)
            return status is not None and status.ami_connected and status.live_calls == 3

        await until(published, what="the status file to show the live calls")
        running = await cli("status", *cfg)
        first = running.stdout.splitlines()[0]
        assert first.startswith("daemon: running (pid ")
        assert "node test" in first
        assert f"AMI connected to 127.0.0.1:{sim.port}" in first
        row = next(line.split() for line in running.stdout.splitlines() if line.strip().startswith("c1 "))
        assert row[:3] == ["c1", "active", "3"]  # three live calls in c1, from the attempts table
    finally:
        daemon.stop()
        assert await task == 0
    assert not status_path(config.database.path).exists()
    after = await cli("status", *cfg)
    assert after.stdout.splitlines()[0].startswith("daemon: not running")


def test_no_help_shows_a_bool_type_and_version_prints():
    version = run(["--version"])
    assert version.code == 0
    assert version.stdout.startswith("dialer ")
    for path, _ in commands():
        shown = run([*path, "--help"])
        assert shown.code == 0, path
        assert "<bool>" not in shown.stdout, path


def test_dialer_sim_help_gives_the_login_the_simulator_accepts():
    from dialer.sim.config import SimConfig as Config

    (name, user), = Config().users.items()
    shown = run(["sim", "--help"]).stdout
    assert f'username "{name}", secret "{user.secret}"' in " ".join(shown.split())
