"""Retention with legal holds (injected clock), the re-hash of the archive, and the CLI over them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from dialer.cli import app
from dialer.clock import FakeClock
from dialer.config import Config
from dialer.daemon import run_until_settled
from dialer.recordings.audit_check import verify_archive
from dialer.recordings.config import CampaignRecordings
from dialer.recordings.retention import DAY_S, lift_hold, place_hold, purge
from dialer.store import Database
from tests.e2e.conftest import ANSWERED, import_numbers, number, rows
from tests.recordings.conftest import OMIT, TRUNCATE, recording_config


async def archived_campaign(tmp_path: Path, sim, calls: list[str], **recordings) -> tuple[Config, list[dict]]:
    config = recording_config(tmp_path, sim, **recordings)
    await import_numbers(tmp_path, config, calls)
    await run_until_settled(config, ["c1"])
    return config, await rows(config, "SELECT call_id, path, created_at, status FROM recordings ORDER BY call_id")


async def cli(config: Config, *args: str) -> Result:
    """`dialer ARGS` against this config (written as the TOML file the command reads), run in a thread
    because the command runs its own event loop."""
    path = config.database.path.parent / "cli.toml"
    rec = config.recordings
    path.write_text(f"""
[database]
path = "{config.database.path}"
[recordings]
enabled = true
spool_dir = "{rec.spool_dir}"
archive_dir = "{rec.archive_dir}"
retention_days = {rec.retention_days}
close_timeout_s = {rec.close_timeout_s}
[trunks.sim]
channel = "Local/{{number}}@callees"
[campaigns.c1]
trunk = "sim"
caller_id = "+14155550100"
""")
    return await asyncio.to_thread(CliRunner().invoke, app, [*args, "--config", str(path)])


async def test_purge_respects_retention_and_legal_holds(tmp_path, sim):
    config, made = await archived_campaign(tmp_path, sim, [number(ANSWERED, i) for i in range(4)], retention_days=30)
    assert [r["status"] for r in made] == ["archived"] * 4
    clock = FakeClock(max(r["created_at"] for r in made))
    held, campaign_wide = made[0], made[1]
    async with Database.open(config.database.path) as db:
        assert await place_hold(db, "call", held["call_id"], "case 2026-17", clock.now(), "test")
        assert not await place_hold(db, "call", held["call_id"], "again", clock.now(), "test")

        clock.advance(29 * DAY_S)
        early = await purge(db, config, clock.now())
        assert early.files == []
        assert early.held == 0

        clock.advance(2 * DAY_S)
        dry = await purge(db, config, clock.now(), dry_run=True)
        assert {f.call_id for f in dry.files} == {r["call_id"] for r in made[1:]}
        assert dry.held == 1
        assert all(Path(r["path"]).exists() for r in made)  # a dry run changes nothing

        assert await place_hold(db, "campaign", "c1", "regulator inquiry", clock.now(), "test")
        assert (await purge(db, config, clock.now())).files == []  # the whole campaign is held
        assert await lift_hold(db, "campaign", "c1", clock.now(), "test")

        done = await purge(db, config, clock.now(), actor="test")
        assert {f.call_id for f in done.files} == {r["call_id"] for r in made[1:]}
        assert done.held == 1
        assert campaign_wide["call_id"] in {f.call_id for f in done.files}
    assert Path(held["path"]).exists()
    assert not any(Path(r["path"]).exists() for r in made[1:])
    assert list(Path(held["path"]).parent.iterdir()) == [Path(held["path"])]
    audit = await rows(config, "SELECT call_id, detail, actor FROM audit WHERE kind = 'recording_purged'")
    assert sorted(a["call_id"] for a in audit) == sorted(r["call_id"] for r in made[1:])  # one row per file
    assert all("sha256=" in a["detail"] and a["actor"] == "test" for a in audit)
    status = {r["call_id"]: r["recording_status"] for r in await rows(config, "SELECT call_id, recording_status "
                                                                              "FROM attempts")}
    assert status == {r["call_id"]: "archived" if r is held else "purged" for r in made}

    async with Database.open(config.database.path) as db:
        assert await lift_hold(db, "call", held["call_id"], clock.now(), "test")
        assert [f.call_id for f in (await purge(db, config, clock.now())).files] == [held["call_id"]]
    assert list((tmp_path / "archive").iterdir()) == []  # emptied day and campaign folders go too
    kinds = [a["kind"] for a in await rows(config, "SELECT kind FROM audit WHERE kind LIKE 'recording_%' ORDER BY id")]
    assert kinds.count("recording_hold") == 2
    assert kinds.count("recording_release") == 2


async def test_a_campaign_keeps_recordings_for_its_own_retention_days(tmp_path, sim):
    config, made = await archived_campaign(tmp_path, sim, [number(ANSWERED)], retention_days=90)
    clock = FakeClock(made[0]["created_at"] + 11 * DAY_S)
    campaign = config.campaigns["c1"].model_copy(update={"recordings": CampaignRecordings(retention_days=10)})
    shorter = config.model_copy(update={"campaigns": {"c1": campaign}})
    async with Database.open(config.database.path) as db:
        assert (await purge(db, config, clock.now())).files == []
        assert [f.retention_days for f in (await purge(db, shorter, clock.now())).files] == [10]


async def test_verify_reports_changed_and_vanished_files(tmp_path, sim):
    config, made = await archived_campaign(tmp_path, sim, [number(ANSWERED, i) for i in range(3)])
    changed, vanished, intact = (Path(r["path"]) for r in made)
    async with Database.open(config.database.path) as db:
        assert (await verify_archive(db, 1.0)).ok
    with changed.open("r+b") as handle:  # one flipped byte in the audio
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    vanished.unlink()
    async with Database.open(config.database.path) as db:
        report = await verify_archive(db, 2.0)
    assert report.checked == 3
    problems = {f.path: f.problem for f in report.findings}
    assert problems[str(vanished)] == "vanished"
    assert problems[str(changed)].startswith("changed:")
    assert str(intact) not in problems
    checked = await rows(config, "SELECT call_id, verified_at, verify_problem FROM recordings")
    stored = {r["call_id"]: r for r in checked}
    assert all(r["verified_at"] == 2.0 for r in stored.values())
    assert stored[made[1]["call_id"]]["verify_problem"] == "vanished"

    result = await cli(config, "recordings", "verify", "--format", "json")
    assert result.exit_code == 1, result.output
    assert {f["problem"].split(":")[0] for f in json.loads(result.stdout)} == {"changed", "vanished"}


async def test_cli_lists_missing_and_broken_recordings_and_manages_holds(tmp_path, sim):
    config, made = await archived_campaign(
        tmp_path, sim, [number(ANSWERED, 1), number(OMIT, 2), number(TRUNCATE, 3)])
    listed = await cli(config, "recordings", "missing", "--format", "json")
    assert listed.exit_code == 0, listed.output
    problems = {r["call_id"]: r for r in json.loads(listed.stdout)}
    expected = {r["call_id"]: r["status"] for r in made if r["status"] != "archived"}
    assert {k: v["status"] for k, v in problems.items()} == expected
    assert sorted(expected.values()) == ["broken", "missing"]
    assert all("4155550" not in line for line in listed.stdout.splitlines())  # no numbers on screen
    table = await cli(config, "recordings", "missing")
    assert "2 call(s) without a good recording" in table.stdout

    assert (await cli(config, "recordings", "hold", "--campaign", "c1")).exit_code == 2  # a hold needs a reason
    assert (await cli(config, "recordings", "hold", "--campaign", "c1", "--reason", "litigation")).exit_code == 0
    holds = json.loads((await cli(config, "recordings", "holds", "--format", "json")).stdout)
    assert [(h["scope"], h["target"], h["reason"]) for h in holds] == [("campaign", "c1", "litigation")]
    dry = await cli(config, "recordings", "purge", "--dry-run")
    assert dry.exit_code == 0
    assert "would delete 0 recording(s)" in dry.stdout
    assert (await cli(config, "recordings", "release", "--campaign", "c1")).exit_code == 0
    assert (await cli(config, "recordings", "release", "--campaign", "c1")).exit_code == 1  # nothing left to release


@pytest.mark.parametrize("days", [0, 40000])
def test_retention_days_out_of_range_is_a_config_error(tmp_path, days):
    from dialer.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=r"recordings\.retention_days"):
        parse_config({"recordings": {"retention_days": days}}, require_secret=False)
