"""`dialer report` (per campaign; table, JSON, CSV long or wide, HTML). `dialer status` is in
`dialer.cli.status`."""

from __future__ import annotations

import asyncio
import io
import json
import os
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from dialer import csv_safe
from dialer.cli.common import ConfigOption, WorkdirOption, fail, out, resolve_config
from dialer.cli.compliance_args import InputError, parse_time
from dialer.cli.database import open_db
from dialer.config import Config
from dialer.ops.perms import open_private
from dialer.reports import campaign_report
from dialer.reports.html import render_html
from dialer.reports.text import render_table
from dialer.store import campaigns

__all__ = ["register", "render_table", "report"]


class Format(StrEnum):
    """Output formats."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    HTML = "html"


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""
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
            return await campaign_report(db, campaign, since=since, until=until, tz=tz, surveys=True)

    return asyncio.run(go())


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
    for name, survey in data.get("surveys", {}).items():
        for key in ("calls_answered", "surveys", "complete", "partial", "completion_rate"):
            value = survey[key]
            writer.writerow([f"survey_{key}", "", "" if value is None else value, name])
        for q in survey["questions"]:
            for key in ("reached", "answered", "no_answer", "stopped"):
                writer.writerow([f"survey_question_{key}", q["question"], q[key], name])
            for meaning, count in q["distribution"].items():
                writer.writerow(["survey_answers", f"{q['question']}={meaning}", count, name])
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


def survey_columns(survey: dict[str, Any] | None) -> dict[str, Any]:
    """A survey campaign's figures as wide-CSV columns (none for a campaign without survey answers)."""
    if survey is None:
        return {}
    row: dict[str, Any] = {f"survey.{key}": "" if survey[key] is None else survey[key]
                           for key in ("calls_answered", "surveys", "complete", "partial", "completion_rate")}
    for q in survey["questions"]:
        for key in ("reached", "answered", "no_answer", "stopped"):
            row[f"survey.{q['question']}.{key}"] = q[key]
        for meaning, count in q["distribution"].items():
            row[f"survey.{q['question']}={meaning}"] = count
    return row


def render_wide_csv(data: dict[str, Any]) -> str:
    """One row per campaign, then `all` (the whole report); a column per figure, 0 where a campaign has none."""
    rows = [{"campaign": name, **wide_row(part), **survey_columns(data.get("surveys", {}).get(name))}
            for name, part in data["by_campaign"].items()]
    rows.append({"campaign": "all", **wide_row(data)})
    columns = ["campaign"] + [c for c in wide_row(data) if c in rows[-1]]
    for row in rows:
        columns += [c for c in row if c not in columns]
    buffer = io.StringIO()
    writer = csv_safe.dict_writer(buffer, columns, restval=0)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
