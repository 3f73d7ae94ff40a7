"""`dialer status` and `dialer report`."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from dialer.cli.common import ConfigOption, WorkdirOption, fail, out, resolve_config
from dialer.config import Config
from dialer.reports import campaign_report
from dialer.store import Database, StoreError


class Format(StrEnum):
    """Output formats."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""
    app.command("status")(status)
    app.command("report")(report)


def _load(config: Config, campaign: str | None) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with Database.open(config.database.path, create=False) as db:
            return await campaign_report(db, campaign)

    try:
        return asyncio.run(go())
    except StoreError as exc:
        fail(str(exc))


def status(config: ConfigOption = None, workdir: WorkdirOption = None) -> None:
    """Campaigns, their states, live attempts and leads waiting."""
    data = _load(resolve_config(config, workdir), None)
    table = Table(title="dialer status")
    table.add_column("campaign")
    table.add_column("state")
    for name, state in data["campaigns"].items():
        table.add_row(name, state)
    out.print(table)
    out.print(f"open attempts: {data['open_attempts']}   calls: {data['calls']}   "
              f"leads: {', '.join(f'{k}={v}' for k, v in data['leads_by_status'].items()) or 'none'}")


def report(
    campaign: Annotated[str | None, typer.Option(help="Only this campaign.")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table, json or csv.")] = Format.TABLE,
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Calls by disposition, leads by status, answer and abandon rates, talk time."""
    data = _load(resolve_config(config, workdir), campaign)
    if fmt is Format.JSON:
        out.print_json(json.dumps(data))
    elif fmt is Format.CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["metric", "key", "value"])
        for key in ("calls", "ended", "open_attempts", "unique_numbers", "answer_rate", "abandon_rate",
                    "avg_talk_s", "talk_s_total"):
            writer.writerow([key, "", data[key]])
        for key, value in data["by_disposition"].items():
            writer.writerow(["by_disposition", key, value])
        for key, value in data["leads_by_status"].items():
            writer.writerow(["leads_by_status", key, value])
        print(buffer.getvalue(), end="")
    else:
        out.print(render_table(data))


def render_table(data: dict[str, Any]) -> Table:
    """The report as a rich table."""
    title = f"report: {data['campaign']}" if data["campaign"] else "report: all campaigns"
    table = Table(title=title, show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("calls", "ended", "open_attempts", "unique_numbers"):
        table.add_row(key, str(data[key]))
    for key in ("answer_rate", "abandon_rate"):
        value = data[key]
        table.add_row(key, "-" if value is None else f"{value:.1%}")
    table.add_row("avg_talk_s", "-" if data["avg_talk_s"] is None else f"{data['avg_talk_s']:.1f}")
    table.add_section()
    for key, value in data["by_disposition"].items():
        table.add_row(f"disposition: {key}", str(value))
    table.add_section()
    for key, value in data["leads_by_status"].items():
        table.add_row(f"leads: {key}", str(value))
    return table
