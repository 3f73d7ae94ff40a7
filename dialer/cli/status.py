"""`dialer status`: is a daemon running on this database (its node, AMI, live calls), and per campaign
its state, live calls and leads waiting.

Its own module, importing only what it shows (the config, the store, the status file, a table):
the figures come from `dialer.reports.status`, a few indexed counts, not from the full report.
"""

from __future__ import annotations

import asyncio
import time

import typer
from rich import box
from rich.table import Table

from dialer.cli.common import ConfigOption, WorkdirOption, out, resolve_config
from dialer.cli.database import open_db
from dialer.config import Config
from dialer.ops.lock import holder
from dialer.ops.status_file import STATUS_INTERVAL_S, read_status
from dialer.reports.status import StatusFigures, status_figures

__all__ = ["daemon_line", "register", "status"]


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("status")(status)


def daemon_line(config: Config) -> str:
    """Whether a daemon runs on this database (its lock), and what it says about itself."""
    database = config.database.path
    pid = holder(database)
    if pid is None:
        return f"daemon: not running on {database}"
    status = read_status(database)
    who = f"pid {pid}" if pid else "pid unknown"
    if status is None or (pid and status.pid != pid):
        return f"daemon: running ({who}) on {database}; it publishes no status (a dialer older than this command?)"
    age = time.time() - status.written_at
    stale = f"; its status is {age:.0f} s old (it is busy or stuck)" if age > 5 * STATUS_INTERVAL_S else ""
    ami = f"AMI connected to {status.ami_address}" if status.ami_connected else (
        f"AMI NOT connected (reconnecting to {status.ami_address})")
    return (f"daemon: running ({who}, node {status.node}) on {database}: {status.phase}, {ami}, "
            f"{status.live_calls} live calls{stale}")


def _figures(config: Config) -> StatusFigures:
    async def go() -> StatusFigures:
        async with open_db(config) as db:
            return await status_figures(db)

    return asyncio.run(go())


def status(config: ConfigOption = None, workdir: WorkdirOption = None) -> None:
    """Whether a daemon runs on this database (its node, its AMI connection), and per campaign: its state,
    live calls and leads waiting."""
    resolved = resolve_config(config, workdir)
    daemon = daemon_line(resolved)
    figures = _figures(resolved)
    out.print(daemon)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("campaign", overflow="fold")
    table.add_column("state")
    for column in ("live calls", "pending", "dialing", "done", "disabled"):
        table.add_column(column, justify="right", no_wrap=True)
    for part in figures.campaigns:
        leads = part.leads
        table.add_row(part.name, part.state, str(part.live_calls), str(leads.get("pending", 0)),
                      str(leads.get("dialing", 0)), str(part.done), str(leads.get("disabled", 0)))
    out.print(table)
    out.print(f"live calls: {figures.live_calls} (attempts without a final outcome, as committed); calls made: "
              f"{figures.calls}")
