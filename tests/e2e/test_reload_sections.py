"""SIGHUP applies every section the example config calls reloadable, in every part that reads it:
retry rules, trunks, recordings and the DNC opt-out scope (pacing, log level, campaigns, compliance
and the SMS stop words have their own reload tests). The daemon runs in-process against the
simulator; the change is seen on the next call, in the simulator's log or the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dialer.config import Config
from tests.e2e.conftest import ANSWERED, BUSY, OPTOUT, SECRET, import_numbers, make_config, number, rows, sim_log
from tests.e2e.test_compliance import running, until, write_toml


def with_section(config: Config, section: str, **changes: Any) -> Config:
    """`config` with keys of one top-level section changed (what an admin's edit does)."""
    current = getattr(config, section)
    return config.model_copy(update={section: current.model_copy(update=changes)})


async def reload_with(daemon: Any, config: Config, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_AMI_SECRET", SECRET)
    write_toml(config, path)
    assert daemon.reload()


async def test_a_reload_changes_the_retry_rules_of_the_next_outcome(tmp_path, sim, monkeypatch):
    config = make_config(tmp_path, sim, retry={"busy": {"delay_s": 3600, "max_attempts": 5}})
    path = write_toml(config, tmp_path / "dialer.toml")
    first, second = number(BUSY, 1), number(BUSY, 2)
    pending = "SELECT next_attempt_at FROM leads WHERE number = ? AND attempts = 1"
    await import_numbers(tmp_path, config, [first])
    async with running(config, path) as daemon:
        await until(lambda: rows(config, pending, (first,)))
        [row] = await rows(config, pending, (first,))
        [ended] = await rows(config, "SELECT ended_at FROM attempts")
        assert row["next_attempt_at"] == pytest.approx(ended["ended_at"] + 3600, abs=5)
        busy = next(d for d in config.retry.rules if d.value == "busy")
        rules = {**config.retry.rules, busy: config.retry.rules[busy].model_copy(update={"max_attempts": 1})}
        await reload_with(daemon, with_section(config, "retry", rules=rules), path, monkeypatch)
        await import_numbers(tmp_path, config, [second])
        # One attempt allowed now: the second busy lead ends exhausted instead of waiting for a retry.
        await until(lambda: rows(config, "SELECT 1 FROM leads WHERE number = ? AND status = 'exhausted'", (second,)))


async def test_a_reload_changes_the_trunk_of_the_next_call(tmp_path, sim, monkeypatch):
    config = make_config(tmp_path, sim)
    path = write_toml(config, tmp_path / "dialer.toml")
    first, second = number(ANSWERED, 1), number(ANSWERED, 2)
    await import_numbers(tmp_path, config, [first])
    async with running(config, path) as daemon:
        await until(lambda: len(sim_log(tmp_path)) == 1)
        trunk = config.trunks["sim"].model_copy(update={"channel": "Local/9{number}@callees"})
        await reload_with(daemon, config.model_copy(update={"trunks": {"sim": trunk}}), path, monkeypatch)
        await import_numbers(tmp_path, config, [second])
        await until(lambda: len(sim_log(tmp_path)) == 2)
    channels = [o["channel"] for o in sim_log(tmp_path)]
    assert channels == [f"Local/{first[1:]}@callees", f"Local/9{second[1:]}@callees"]


async def test_a_reload_turns_recording_on_for_the_next_call(tmp_path, sim, monkeypatch):
    recordings = {"enabled": False, "spool_dir": str(tmp_path / "spool"), "archive_dir": str(tmp_path / "archive")}
    config = make_config(tmp_path, sim, extra={"recordings": recordings})
    path = write_toml(config, tmp_path / "dialer.toml")
    first, second = number(ANSWERED, 1), number(ANSWERED, 2)
    await import_numbers(tmp_path, config, [first])
    async with running(config, path) as daemon:
        await until(lambda: rows(config, "SELECT 1 FROM attempts WHERE state = 'ended'"))
        await reload_with(daemon, with_section(config, "recordings", enabled=True), path, monkeypatch)
        await import_numbers(tmp_path, config, [second])
        await until(lambda: rows(config, "SELECT 1 FROM recordings WHERE status = 'archived'"))
    record = {o["channel"]: o["variables"].get("DIALER_RECORD") for o in sim_log(tmp_path)}
    assert record == {f"Local/{first[1:]}@callees": "0", f"Local/{second[1:]}@callees": "1"}
    archived = list((tmp_path / "archive").rglob("*.wav"))
    assert len(archived) == 1


async def test_a_reload_changes_the_scope_of_the_next_optout(tmp_path, sim, monkeypatch):
    config = make_config(tmp_path, sim, extra={"dnc": {"refresh_interval_s": 0.05, "optout_scope": "all"}})
    path = write_toml(config, tmp_path / "dialer.toml")
    first, second = number(OPTOUT, 1), number(OPTOUT, 2)
    optouts = "SELECT number, campaign_id FROM dnc_entries WHERE list = 'optout' ORDER BY number"
    await import_numbers(tmp_path, config, [first])
    async with running(config, path) as daemon:
        await until(lambda: rows(config, optouts))
        await reload_with(daemon, with_section(config, "dnc", optout_scope="campaign"), path, monkeypatch)
        await import_numbers(tmp_path, config, [second])
        await until(lambda: len_at_least(config, optouts, 2))
    assert await rows(config, optouts) == [{"number": first, "campaign_id": None},
                                           {"number": second, "campaign_id": "c1"}]


async def len_at_least(config: Config, sql: str, wanted: int) -> bool:
    return len(await rows(config, sql)) >= wanted
