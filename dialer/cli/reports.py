"""`dialer status` (is a daemon running on this database, its node, AMI, live calls per campaign) and
`dialer report` (per campaign; table, JSON, CSV long or wide, HTML)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import time
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich import box
from rich.table import Table

from dialer import csv_safe
from dialer.cli.common import ConfigOption, WorkdirOption, fail, out, resolve_config
from dialer.cli.compliance_args import InputError, parse_time
from dialer.cli.database import open_db
from dialer.config import Config
from dialer.ops.lock import holder
from dialer.ops.perms import open_private
from dialer.ops.status_file import STATUS_INTERVAL_S, read_status
from dialer.reports import campaign_report
from dialer.reports.html import render_html
from dialer.reports.text import render_table
from dialer.retry import LeadStatus
from dialer.store import campaigns

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


def _load(config: Config, campaign: str | None, since: float | None = None, until: float | None = None,
          tz: str | None = None) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with open_db(config) as db:
            if campaign is not None and campaign not in config.campaigns:
                async with db.read() as tx:
                    known = await campaigns.campaign_ids(tx)
                if campaign not in known:
                    names = ", ".join(sorted({*known, *config.campaigns})) or "none"
                    fail(f"no campaign {campaign!r} in the config or the database (campaigns: {names})", 2)
            return await campaign_report(db, campaign, since=since, until=until, tz=tz)

    return asyncio.run(go())


def _daemon_line(config: Config) -> str:
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


def status(config: ConfigOption = None, workdir: WorkdirOption = None) -> None:
    """Whether a daemon runs on this database (its node, its AMI connection), and per campaign: its state,
    live calls and leads waiting."""
    resolved = resolve_config(config, workdir)
    daemon = _daemon_line(resolved)
    data = _load(resolved, None)
    out.print(daemon)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("campaign", overflow="fold")
    table.add_column("state")
    for column in ("live calls", "pending", "dialing", "done", "disabled"):
        table.add_column(column, justify="right", no_wrap=True)
    for name, state in data["campaigns"].items():
        part = data["by_campaign"][name]
        leads = part["leads_by_status"]
        waiting = {LeadStatus.PENDING, LeadStatus.DIALING, LeadStatus.DISABLED}
        done = sum(n for key, n in leads.items() if key not in waiting)
        table.add_row(name, state, str(part["open_attempts"]), str(leads.get(LeadStatus.PENDING, 0)),
                      str(leads.get(LeadStatus.DIALING, 0)), str(done), str(leads.get(LeadStatus.DISABLED, 0)))
    out.print(table)
    out.print(f"live calls: {data['open_attempts']} (attempts without a final outcome, as committed); calls made: "
              f"{data['calls']}")


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--tz {name!r}: not a time zone (an IANA name such as Europe/London or America/New_York)", 2)
    return name


def parse_local(text: str, tz: str | None) -> float:
    """An ISO-8601 date or time; without an offset, read in `tz` (a date: midnight there)."""
    if tz is None:
        return parse_time(text)
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{text!r} is not an ISO-8601 date or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return moment.timestamp()


def report(
    campaign: Annotated[str | None, typer.Option(help="Only this campaign.")] = None,
    since: Annotated[str | None, typer.Option(help="From this ISO-8601 date or time (inclusive).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this ISO-8601 date or time (exclusive).")] = None,
    tz: Annotated[str | None, typer.Option(
        "--tz", help="A time zone (e.g. Europe/London): --since/--until without an offset are read in it, and "
                     "the hourly figures count hours there (default: UTC ranges, the callee's local hours).")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table, json, csv or html.")] = Format.TABLE,
    wide: Annotated[bool, typer.Option(
        "--wide", help="CSV: one row per campaign (and one for all), one column per figure.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")] = None,
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Per campaign: calls, numbers reached, answer and abandon rates (24 h, 30 days), talk time,
    outcomes, gate blocks by rule, attempts per lead, best local hours, recordings missing, texts."""
    resolved = resolve_config(config, workdir)
    zone = _zone(tz) if tz is not None else None
    if wide and fmt is not Format.CSV:
        fail("--wide is a form of --format csv", 2)
    try:
        start = parse_local(since, zone) if since else None
        end = parse_local(until, zone) if until else None
    except InputError as exc:
        fail(str(exc), 2)
    if start is not None and end is not None and end <= start:
        fail("--until must be after --since", 2)
    data = _load(resolved, campaign, start, end, zone)
    if fmt is Format.TABLE:
        if output is not None:
            fail("--output takes json, csv or html", 2)
        out.print(render_table(data))
        return
    if fmt is Format.JSON:
        text = json.dumps(data, indent=2) + "\n"
    elif fmt is Format.CSV:
        text = render_wide_csv(data) if wide else render_csv(data)
    else:
        text = render_html(data, limit_abandon=resolved.compliance.max_abandon_rate)
    if output is None:
        print(text, end="")
        return
    partial = output.with_name(output.name + ".part")
    try:
        with open_private(partial) as handle:
            handle.write(text)
        os.replace(partial, output)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}", 1)
    out.print(f"{output}: {fmt.value} report written", markup=False)


_SCALARS = ("calls", "ended", "open_attempts", "unique_numbers", "numbers_reached", "answer_rate", "abandon_rate",
            "abandon_rate_24h", "abandon_rate_30d", "avg_talk_s", "talk_s_total", "recordings_missing")


def render_csv(data: dict[str, Any]) -> str:
    """`metric,key,value,campaign` rows: the whole report first (campaign empty), then each campaign."""
    buffer = io.StringIO()
    writer = csv_safe.writer(buffer)
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


def wide_row(part: dict[str, Any]) -> dict[str, Any]:
    """One campaign's figures as one flat row (column name -> value)."""
    row: dict[str, Any] = {key: "" if part[key] is None else part[key] for key in _SCALARS}
    for metric in ("by_disposition", "leads_by_status", "gate_blocks"):
        for key, value in part[metric].items():
            row[f"{metric}.{key}"] = value
    for key, value in part["attempts_per_lead"]["histogram"].items():
        row[f"attempts_per_lead.{key}"] = value
    for hour in part["answer_by_local_hour"]:
        row[f"calls_hour_{hour['hour']:02d}"] = hour["calls"]
        row[f"answered_hour_{hour['hour']:02d}"] = hour["answered"]
    row["best_hours"] = " ".join(f"{h:02d}" for h in part["best_hours"])
    for key in ("sent", "accepted", "failed", "replies", "opt_outs"):
        row[f"sms.{key}"] = part["sms"][key]
    return row


def render_wide_csv(data: dict[str, Any]) -> str:
    """One row per campaign, then `all` (the whole report); a column per figure, 0 where a campaign has none."""
    rows = [{"campaign": name, **wide_row(part)} for name, part in data["by_campaign"].items()]
    rows.append({"campaign": "all", **wide_row(data)})
    columns = ["campaign"] + [c for c in wide_row(data) if c in rows[-1]]
    for row in rows:
        columns += [c for c in row if c not in columns]
    buffer = io.StringIO()
    writer = csv_safe.dict_writer(buffer, columns, restval=0)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
