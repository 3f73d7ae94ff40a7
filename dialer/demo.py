"""`dialer demo`: the whole pipeline on its embedded defaults, the simulator and a SQLite file.

It starts the PBX simulator in-process on a free port, writes a demo config and a lead list into the
working folder, imports the leads, runs the daemon until every lead is settled, and leaves the
database, the JSON log and the simulator's origination log in that folder.
"""

from __future__ import annotations

import asyncio
import csv
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import SecretStr

from dialer.clock import SystemClock
from dialer.config import parse_config
from dialer.daemon import run_until_settled
from dialer.leads.importer import prepare_import, write_import
from dialer.numbers import NumberError, normalise
from dialer.sim import SimConfig, SimServer, SimUser
from dialer.store import Database

CAMPAIGN = "demo"
# Area codes of several US time zones, so the calling window has something to do.
AREA_CODES = ("212", "305", "312", "415", "503", "602", "713", "808", "907", "617")
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Niklaus")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Wirth")


@dataclass(frozen=True, slots=True)
class DemoResult:
    """Where the demo left its files, and how long it ran."""

    workdir: Path
    config_path: Path
    database: Path
    log_path: Path
    sim_log: Path
    recordings: Path
    leads: int
    elapsed_s: float


def demo_config_data(workdir: Path, sim_port: int, *, time_scale: float) -> dict[str, Any]:
    """The demo's config as TOML-shaped data (also written to dialer.toml for later commands)."""
    return {
        "node": {"name": "demo"},
        "database": {"path": "dialer.db"},
        "logging": {"level": "info", "format": "json"},
        "ami": {"host": "127.0.0.1", "port": sim_port, "username": "dialer", "secret_env": "DIALER_DEMO_SECRET",
                "ping_interval_s": 2.0, "ping_timeout_s": 2.0},
        "dialing": {
            "pacing": {"max_concurrent_calls": 60, "max_originations_per_s": 40},
            "drain_timeout_s": 10, "event_timeout_s": 10, "poll_interval_s": 0.05,
        },
        "retry": {"rules": {
            "busy": {"delay_s": 1.5, "max_attempts": 3},
            "no_answer": {"delay_s": 1.5, "max_attempts": 3},
            "congestion": {"delay_s": 1.0, "max_attempts": 3},
            "rejected": {"delay_s": 2.0, "max_attempts": 2},
            "machine": {"delay_s": 2.0, "max_attempts": 2},
            "failed": {"delay_s": 1.0, "max_attempts": 2},
            "unknown": {"delay_s": 1.0, "max_attempts": 2},
        }},
        "trunks": {"sim": {"channel": "Local/{number}@callees", "number_format": "e164_no_plus"}},
        "campaigns": {CAMPAIGN: {
            "trunk": "sim",
            "caller_id": '"Demo Dialer" <+14155550100>',
            "default_region": "US",
            "context": "dialer",
            # The simulator runs the Originate Timeout on its scaled clock too.
            "ring_timeout_s": 20.0,
            "pacing": {"max_concurrent_calls": 50, "max_originations_per_s": 30},
            "amd": True,
        }},
        # The simulator's MixMonitor writes into <workdir>/spool; verified files land in
        # <workdir>/recordings, so the folder holds everything the demo made.
        "recordings": {
            "enabled": True, "spool_dir": str((workdir / "spool").resolve()), "archive_dir": "recordings",
            "settle_s": 0.2, "close_timeout_s": 5.0,
        },
    }


def write_leads(path: Path, count: int, seed: int) -> None:
    """A lead list of valid US numbers; the last two digits pick the simulated callee's behaviour."""
    rng = random.Random(seed)
    seen: set[str] = set()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["phone", "first_name", "last_name", "customer_id", "segment"])
        while len(seen) < count:
            raw = f"({rng.choice(AREA_CODES)}) {rng.randint(201, 989)}-{rng.randint(0, 9999):04d}"
            try:
                e164 = normalise(raw, "US").e164
            except NumberError:
                continue
            if e164 in seen:
                continue
            seen.add(e164)
            writer.writerow([raw, rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), f"C{len(seen):05d}",
                             rng.choice(("new", "returning", "vip"))])


async def run_demo(
    workdir: Path,
    *,
    leads: int = 300,
    seed: int = 1,
    time_scale: float = 0.05,
    on_progress: Callable[[int, int], None] | None = None,
    log_stream: Any = None,
) -> DemoResult:
    """Run the demo campaign to completion; returns where its files are."""
    clock = SystemClock()
    started = clock.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(16)
    sim_log = workdir / "sim-originations.jsonl"
    sim_config = SimConfig(
        host="127.0.0.1", port=0, users={"dialer": SimUser(secret=secret)},
        spool_dir=workdir / "spool", time_scale=time_scale, seed=seed, log_path=sim_log,
    )
    async with SimServer(sim_config) as sim:
        data = demo_config_data(workdir, sim.port, time_scale=time_scale)
        config_path = workdir / "dialer.toml"
        config_path.write_text(tomli_w.dumps(data), encoding="utf-8")
        config = parse_config(data, source=str(config_path), require_secret=False, base_dir=workdir)
        config = config.model_copy(update={"ami": config.ami.model_copy(update={"secret": SecretStr(secret)})})
        leads_path = workdir / "leads.csv"
        write_leads(leads_path, leads, seed)
        plan = await asyncio.to_thread(prepare_import, leads_path, "US")
        async with Database.open(config.database.path) as db:
            await write_import(db, CAMPAIGN, plan, clock.now())
        await run_until_settled(config, [CAMPAIGN], config_path=config_path, on_progress=on_progress)
    return DemoResult(workdir, config_path, config.database.path, workdir / "dialer.log", sim_log,
                      config.recordings.archive_dir, len(plan.leads), round(clock.monotonic() - started, 1))


