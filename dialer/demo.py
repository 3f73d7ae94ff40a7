"""`dialer demo`: the whole pipeline on its embedded defaults, the simulator and a SQLite file.

It starts the PBX simulator in-process on a free port, writes a demo config and a lead list into the
working folder, imports the leads, runs the daemon until every lead is settled, and leaves the
database, the JSON log and the simulator's origination log in that folder.

The compliance gate runs as in production, calling window included. The demo's policy allows
retries seconds apart (it is a simulation), and its leads are numbers the gate allows now and for
the next 15 minutes (see demo_leads), so it finishes at any hour. A few leads are put on the
internal DNC list first, to show the gate blocking them.
"""

from __future__ import annotations

import asyncio
import csv
import random
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers
import tomli_w
from pydantic import SecretStr

from dialer.clock import SystemClock, to_datetime
from dialer.compliance import CompliancePolicy
from dialer.config import parse_config
from dialer.daemon import run_until_settled
from dialer.demo_leads import NoOpenWindow, open_numbers
from dialer.leads.importer import ImportOptions, import_file
from dialer.leads.sources import open_source
from dialer.numbers import PhoneNumber
from dialer.ops.perms import open_private, tighten
from dialer.sim import SimConfig, SimServer, SimUser
from dialer.store import Database
from dialer.store import compliance as compliance_store

CAMPAIGN = "demo"
CALLER_ID = '"Demo Dialer" <+14155550100>'
# The demo's global compliance policy: production defaults (window, holidays, DNC, abandon rate,
# caller ID) except that a simulated callee may be retried seconds later.
DEMO_COMPLIANCE: dict[str, Any] = {"min_attempt_gap_s": 0, "max_attempts_per_24h": 10, "max_attempts_per_7d": 20}
DNC_EVERY = 50  # one lead in this many is put on the internal DNC list before the run
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Niklaus")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Wirth")


# What a demo run leaves in its folder: a new run removes exactly these (and nothing else).
DEMO_FILES = ("dialer.toml", "dialer.db", "dialer.db-wal", "dialer.db-shm", "dialer.db.lock", "dialer.db.status.json",
              "dialer.log", "sim-originations.jsonl", "leads.csv", ".dialer-demo")
DEMO_FOLDERS = ("spool", "recordings", "registries")
MARKER = ".dialer-demo"


class DemoFolderError(Exception):
    """The working folder cannot be used for a fresh demo run (says why)."""


def prepare_workdir(workdir: Path, *, resume: bool) -> bool:
    """Make `workdir` ready: a fresh run removes a previous demo's files; True if there was one.

    A folder that holds anything else is refused rather than emptied (it may not be a demo's), and
    so is one whose database a daemon is using.
    """
    from dialer.ops.lock import holder

    if not workdir.exists():
        workdir.mkdir(parents=True)
        (workdir / MARKER).write_text("a dialer demo folder: `dialer demo` may clear it\n")
        return False
    if not workdir.is_dir():
        raise DemoFolderError(f"{workdir} is not a folder")
    if holder(workdir / "dialer.db") is not None:
        raise DemoFolderError(f"a dialer daemon is using {workdir / 'dialer.db'}; stop it first")
    names = {p.name for p in workdir.iterdir()}
    previous = bool(names & set(DEMO_FILES))
    if resume:
        return previous
    others = sorted(names - set(DEMO_FILES) - set(DEMO_FOLDERS))
    if others and MARKER not in names:
        raise DemoFolderError(f"{workdir} holds other files ({', '.join(others[:5])}): give another --workdir "
                              "(a demo clears its folder before each run)")
    for name in DEMO_FILES:
        (workdir / name).unlink(missing_ok=True)
    for name in DEMO_FOLDERS:
        shutil.rmtree(workdir / name, ignore_errors=True)
    (workdir / MARKER).write_text("a dialer demo folder: `dialer demo` may clear it\n")
    return previous


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
    notice: str | None = None  # what the demo had to relax, if anything
    time_scale: float = 1.0


def demo_config_data(workdir: Path, sim_port: int, *, time_scale: float,
                     compliance: dict[str, Any] | None = None,
                     mqtt: tuple[str, int] | None = None) -> dict[str, Any]:
    """The demo's config as TOML-shaped data (also written to dialer.toml for later commands)."""
    data: dict[str, Any] = {
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
        "compliance": DEMO_COMPLIANCE if compliance is None else compliance,
        "trunks": {"sim": {"channel": "Local/{number}@callees", "number_format": "e164_no_plus"}},
        "campaigns": {CAMPAIGN: {
            "trunk": "sim",
            "caller_id": CALLER_ID,
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
    if mqtt is not None:
        # An anonymous broker, e.g. a local mosquitto: watch with mosquitto_sub -t 'dialer/#' -v.
        # Events only: over an anonymous connection commands would be refused anyway (mqtt/commands.py).
        data["mqtt"] = {"enabled": True, "host": mqtt[0], "port": mqtt[1], "stats_interval_s": 1.0,
                        "commands": False}
    return data


def pick_numbers(count: int, seed: int, now: float) -> tuple[list[PhoneNumber], dict[str, Any], str | None]:
    """(numbers, the compliance policy to run with, a notice if it had to be relaxed)."""
    policy = DEMO_COMPLIANCE
    try:
        return open_numbers(count, seed, CompliancePolicy(**policy), CALLER_ID, to_datetime(now)), policy, None
    except NoOpenWindow:
        # A public holiday in every country whose hours are open now (New Year, Christmas in the
        # Americas): keep the hours, skip the holiday rule for this simulated run, and say so.
        policy = {**DEMO_COMPLIANCE, "skip_holidays": False}
        numbers = open_numbers(count, seed, CompliancePolicy(**policy), CALLER_ID, to_datetime(now))
        return numbers, policy, ("every country open at this hour has a public holiday: this demo run does not "
                                 "skip holidays (calling hours still apply)")


def write_leads(path: Path, numbers: list[PhoneNumber], seed: int) -> None:
    """A lead list; the last two digits of each number pick the simulated callee's behaviour."""
    rng = random.Random(seed)
    with open_private(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["phone", "first_name", "last_name", "customer_id", "segment"])
        for i, number in enumerate(numbers, 1):
            raw = phonenumbers.format_number(phonenumbers.parse(number.e164),
                                             phonenumbers.PhoneNumberFormat.INTERNATIONAL)
            writer.writerow([raw, rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), f"C{i:05d}",
                             rng.choice(("new", "returning", "vip"))])


async def _list_on_dnc(db: Database, numbers: list[PhoneNumber], now: float) -> None:
    entries = [compliance_store.NewDncEntry(n.e164, compliance_store.DncKind.INTERNAL, None, "demo")
               for n in numbers[DNC_EVERY - 1::DNC_EVERY]]
    if entries:
        stamp = compliance_store.ChangeStamp("demo", now, await db.hash_key())
        async with db.write() as tx:
            await compliance_store.add_dnc(tx, entries, stamp)


async def run_demo(
    workdir: Path,
    *,
    leads: int = 300,
    seed: int = 1,
    time_scale: float = 0.05,
    on_progress: Callable[[int, int], None] | None = None,
    log_stream: Any = None,
    mqtt: tuple[str, int] | None = None,
) -> DemoResult:
    """Run the demo campaign to completion; returns where its files are."""
    clock = SystemClock()
    started = clock.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(16)
    sim_log = workdir / "sim-originations.jsonl"
    # Files an earlier run (or an older version) left readable by others: they hold full numbers.
    tighten([workdir, *workdir.rglob("*")])
    sim_config = SimConfig(
        host="127.0.0.1", port=0, users={"dialer": SimUser(secret=secret)},
        spool_dir=workdir / "spool", time_scale=time_scale, seed=seed, log_path=sim_log,
    )
    numbers, policy, notice = await asyncio.to_thread(pick_numbers, leads, seed, clock.now())
    async with SimServer(sim_config) as sim:
        data = demo_config_data(workdir, sim.port, time_scale=time_scale, compliance=policy, mqtt=mqtt)
        config_path = workdir / "dialer.toml"
        config_path.write_text(tomli_w.dumps(data), encoding="utf-8")
        config = parse_config(data, source=str(config_path), require_secret=False, base_dir=workdir)
        config = config.model_copy(update={"ami": config.ami.model_copy(update={"secret": SecretStr(secret)})})
        leads_path = workdir / "leads.csv"
        write_leads(leads_path, numbers, seed)
        async with Database.open(config.database.path) as db:
            with open_source(leads_path) as source:  # the way `dialer import` reads it
                report = await import_file(db, CAMPAIGN, source, ImportOptions("US", actor="demo"), clock.now())
            await _list_on_dnc(db, numbers, clock.now())
        await run_until_settled(config, [CAMPAIGN], config_path=config_path, on_progress=on_progress)
    return DemoResult(workdir, config_path, config.database.path, workdir / "dialer.log", sim_log,
                      config.recordings.archive_dir, report.numbers, round(clock.monotonic() - started, 1),
                      notice, time_scale)


