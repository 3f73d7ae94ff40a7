"""`dialer status` and `dialer report`."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dialer.cli.common import ConfigOption, WorkdirOption, fail, out, resolve_config, store_exit_code
from dialer.cli.compliance_args import InputError, parse_time
from dialer.config import Config
from dialer.reports import campaign_report
from dialer.reports.html import render_html
from dialer.reports.text import render_table
from dialer.store import Database, StoreError

__all__ = ["register", "render_table", "report", "status"]


class Format(StrEnum):
    """Output formats."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    HTML = "html"


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""
    app.command("status")(status)
    app.command("report")(report)


def _load(config: Config, campaign: str | None, since: float | None = None, until: float | None = None
          ) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with Database.open(config.database.path, create=False) as db:
            return await campaign_report(db, campaign, since=since, until=until)

    try:
        return asyncio.run(go())
    except StoreError as exc:
        fail(str(exc), store_exit_code(exc))


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
    since: Annotated[str | None, typer.Option(help="From this ISO-8601 date or time (inclusive).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this ISO-8601 date or time (exclusive).")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table, json, csv or html.")] = Format.TABLE,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")] = None,
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Per campaign: calls, numbers reached, answer and abandon rates (24 h, 30 days), talk time,
    outcomes, gate blocks by rule, attempts per lead, best local hours, recordings missing, texts."""
    resolved = resolve_config(config, workdir)
    try:
        start = parse_time(since) if since else None
        end = parse_time(until) if until else None
    except InputError as exc:
        fail(str(exc), 2)
    if start is not None and end is not None and end <= start:
        fail("--until must be after --since", 2)
    data = _load(resolved, campaign, start, end)
    if fmt is Format.TABLE:
        if output is not None:
            fail("--output takes json, csv or html", 2)
        out.print(render_table(data))
        return
    if fmt is Format.JSON:
        text = json.dumps(data, indent=2) + "\n"
    elif fmt is Format.CSV:
        text = render_csv(data)
    else:
        text = render_html(data, limit_abandon=resolved.compliance.max_abandon_rate)
    if output is None:
        print(text, end="")
        return
    partial = output.with_name(output.name + ".part")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, output)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}", 1)
    out.print(f"{output}: {fmt.value} report written", markup=False)


_SCALARS = ("calls", "ended", "open_attempts", "unique_numbers", "numbers_reached", "answer_rate", "abandon_rate",
            "abandon_rate_24h", "abandon_rate_30d", "avg_talk_s", "talk_s_total", "recordings_missing")


def render_csv(data: dict[str, Any]) -> str:
    """`metric,key,value,campaign` rows: the whole report first (campaign empty), then each campaign."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["metric", "key", "value", "campaign"])
    scopes: list[tuple[str, dict[str, Any]]] = [("", data), *data["by_campaign"].items()]
    for name, part in scopes:
        for key in _SCALARS:
            writer.writerow([key, "", "" if part[key] is None else part[key], name])
        for metric in ("by_disposition", "leads_by_status", "gate_blocks"):
            for key, value in part[metric].items():
                writer.writerow([metric, key, value, name])
        for key, value in part["attempts_per_lead"]["histogram"].items():
            writer.writerow(["attempts_per_lead", key, value, name])
        for hour in part["answer_by_local_hour"]:
            writer.writerow(["calls_by_local_hour", f"{hour['hour']:02d}", hour["calls"], name])
            writer.writerow(["answered_by_local_hour", f"{hour['hour']:02d}", hour["answered"], name])
        writer.writerow(["best_hours", "", " ".join(f"{h:02d}" for h in part["best_hours"]), name])
        for key in ("sent", "accepted", "failed", "replies", "opt_outs"):
            writer.writerow(["sms", key, part["sms"][key], name])
    return buffer.getvalue()
