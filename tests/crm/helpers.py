"""What the CRM tests share: people with names and attributes, the config as a file, the CLI as a process."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog

from dialer.config import Config
from dialer.leads.importer import ImportOptions, import_file
from dialer.leads.sources import open_source
from dialer.logs import configure_logging
from dialer.store import Database
from tests.e2e.test_compliance import write_toml

DIALER = [sys.executable, "-m", "dialer"]


def dialer(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command line as a user does (a separate process)."""
    extra = ["--config", str(config)] if config is not None else []
    return subprocess.run([*DIALER, *args, *extra], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DIALER_AMI_SECRET": "unused"})


async def dialer_beside(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The command line while an in-process daemon runs: off the event loop, which must keep going
    (a blocked loop would hold the daemon's open transaction, and the command would wait for it)."""
    return await asyncio.to_thread(dialer, *args, config=config)


def config_file(config: Config, tmp_path: Path) -> Path:
    """The in-process config as the dialer.toml a command reads."""
    return write_toml(config, tmp_path / "dialer.toml")


async def import_people(tmp_path: Path, config: Config, people: list[tuple[str, str, str]], campaign: str = "c1",
                        ) -> None:
    """Import (number, name, plan) rows through the CSV importer."""
    path = tmp_path / f"people-{campaign}-{len(people)}.csv"
    path.write_text("phone,name,plan\n" + "".join(f"{n},{name},{plan}\n" for n, name, plan in people))
    async with Database.open(config.database.path) as db:
        with open_source(path) as source:  # the way `dialer import` reads a file
            report = await import_file(db, campaign, source, ImportOptions("US"), 0.0)
    assert not report.bad


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """The in-process daemon's JSON log lines."""
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    try:
        yield stream
    finally:
        structlog.reset_defaults()
