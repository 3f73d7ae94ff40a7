"""End-to-end fixtures: the simulator over real TCP, a real SQLite file, the daemon in-process."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from dialer.config import Config, parse_config
from dialer.leads.importer import ImportOptions, import_file
from dialer.leads.sources import open_source
from dialer.sim import SimConfig, SimServer, SimUser
from dialer.store import Database

SECRET = "e2e-secret"
TIME_SCALE = 0.02

# The simulator's default callee table keys on the last two digits of the number.
ANSWERED, BUSY, NO_ANSWER, CONGESTION, REJECTED = 0, 50, 60, 70, 75
ANSWERED_REJECTED, UNALLOCATED, CHANNEL_FAILURE, MACHINE, OPTOUT, LONG = 80, 82, 85, 87, 90, 95


# The call-pipeline tests run at any hour and retry within milliseconds: their global policy opens
# every hour of every day and lifts the frequency limits. Every other rule (DNC, consent, number
# screen, abandon rate, caller ID) applies as configured. The compliance tests pass their own
# policy (`compliance=`), with the real country presets.
ALL_DAY = dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), ("00:00-24:00",))
PIPELINE_POLICY: dict[str, Any] = {
    "calling_hours": ALL_DAY, "override_country_hours": True, "skip_holidays": False,
    "min_attempt_gap_s": 0, "max_attempts_per_24h": 1000, "max_attempts_per_7d": 1000,
}


def number(outcome: int, i: int = 0) -> str:
    """A valid US number whose last two digits select the simulated callee's behaviour."""
    return f"+1415555{i:02d}{outcome:02d}"


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimServer]:
    config = SimConfig(users={"dialer": SimUser(secret=SECRET)}, spool_dir=tmp_path / "spool",
                       time_scale=TIME_SCALE, seed=7, log_path=tmp_path / "sim.jsonl", login_failure_delay_s=0.05)
    async with SimServer(config) as server:
        yield server


def make_config(tmp_path: Path, sim: SimServer, *, campaign: dict[str, Any] | None = None,
                dialing: dict[str, Any] | None = None, retry: dict[str, Any] | None = None,
                trunk: str = "Local/{number}@callees", extra: dict[str, Any] | None = None,
                compliance: dict[str, Any] | None = None) -> Config:
    """A config pointing at the simulator, with short timings (and PIPELINE_POLICY unless told)."""
    data: dict[str, Any] = {
        "node": {"name": "test"},
        "database": {"path": str(tmp_path / "dialer.db")},
        "ami": {"port": sim.port, "ping_interval_s": 1.0, "ping_timeout_s": 1.0, "reconnect_initial_s": 0.05,
                "reconnect_max_s": 0.5},
        "dialing": {"pacing": {"max_concurrent_calls": 50, "max_originations_per_s": 200},
                    "poll_interval_s": 0.02, "event_timeout_s": 5, "drain_timeout_s": 10, **(dialing or {})},
        "retry": {"rules": retry if retry is not None else {}},
        "compliance": PIPELINE_POLICY if compliance is None else compliance,
        "dnc": {"refresh_interval_s": 0.05},
        "trunks": {"sim": {"channel": trunk, "number_format": "e164_no_plus"}},
        "campaigns": {"c1": {"trunk": "sim", "caller_id": '"Test" <+14155550100>', "context": "dialer",
                             "ring_timeout_s": 20, "pacing": {"max_concurrent_calls": 50,
                                                               "max_originations_per_s": 200},
                             **(campaign or {})}},
        **(extra or {}),
    }
    config = parse_config(data, require_secret=False)
    return config.model_copy(update={"ami": config.ami.model_copy(update={"secret": SecretStr(SECRET)})})


async def init_database(config: Config) -> None:
    """What `dialer init` does: the daemon refuses to start without a database."""
    async with Database.open(config.database.path, create=True):
        pass


async def import_numbers(tmp_path: Path, config: Config, numbers: list[str], campaign: str = "c1") -> None:
    """Import `numbers` as leads of `campaign` through the CSV importer."""
    path = tmp_path / f"leads-{campaign}.csv"
    path.write_text("phone\n" + "\n".join(numbers) + "\n")
    async with Database.open(config.database.path) as db:
        with open_source(path) as source:  # the way `dialer import` reads a file
            report = await import_file(db, campaign, source, ImportOptions("US"), 0.0)
    assert not report.bad


async def rows(config: Config, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Query the dialer's database."""
    async with Database.open(config.database.path, create=False) as db:
        return [dict(r) for r in await db.fetchall(sql, params)]


def sim_log(tmp_path: Path, kind: str = "originate") -> list[dict[str, Any]]:
    """The simulator's --log lines of one kind."""
    path = tmp_path / "sim.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [line for line in lines if line["kind"] == kind]


Check = Callable[[], bool]
