"""`dialer audit export`: every gate decision and compliance change, as CSV or JSON, streamed.

Rows carry the masked number and its keyed hash (to join rows about one number), never the number.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from dialer import csv_safe
from dialer.cli.common import ConfigOption, WorkdirOption, fail, resolve_config
from dialer.cli.compliance_args import InputError, iso, open_store, parse_time, quiet_logs
from dialer.config import Config
from dialer.ops.perms import open_private
from dialer.store import compliance as store

audit_app = typer.Typer(help="The audit trail: gate decisions and compliance changes.", no_args_is_help=True)


class ExportFormat(StrEnum):
    """Export formats."""

    CSV = "csv"
    JSON = "json"


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""
    app.add_typer(audit_app, name="audit")


@audit_app.command("export")
def export(
    since: Annotated[str | None, typer.Option(help="From this ISO-8601 date or time (inclusive).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this ISO-8601 date or time (exclusive).")] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="csv or json.")] = ExportFormat.CSV,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Export audit rows (time, kind, campaign, masked number and hash, verdict, rule, detail, actor).

    Dates without a time mean midnight UTC; times need a UTC offset (e.g. 2026-07-04T10:00-04:00).
    """
    quiet_logs()
    resolved = resolve_config(config, workdir)
    try:
        start = parse_time(since) if since else None
        end = parse_time(until) if until else None
    except InputError as exc:
        fail(str(exc), 2)
    if output is None:
        count = asyncio.run(_export(resolved, start, end, fmt, sys.stdout))
    else:
        with open_private(output, newline="") as handle:
            count = asyncio.run(_export(resolved, start, end, fmt, handle))
    typer.echo(f"{count} audit rows exported", err=True)


def _row(row: Any) -> dict[str, Any]:
    data = {name: row[name] for name in store.AUDIT_COLUMNS}
    data["at"] = iso(row["at"], "milliseconds")
    return data


async def _export(config: Config, since: float | None, until: float | None, fmt: ExportFormat,
                  stream: TextIO) -> int:
    write: Callable[[dict[str, Any], bool], None]
    if fmt is ExportFormat.CSV:
        writer = csv_safe.dict_writer(stream, list(store.AUDIT_COLUMNS), lineterminator="\n")
        writer.writeheader()

        def write(data: dict[str, Any], first: bool) -> None:
            writer.writerow(data)
    else:
        stream.write("[")

        def write(data: dict[str, Any], first: bool) -> None:
            stream.write(("\n" if first else ",\n") + json.dumps(data))

    count = 0
    last_id = 0
    async with open_store(config, create=False) as db:
        while True:
            async with db.read() as tx:
                rows = await store.audit_page(tx, last_id, since, until)
            if not rows:
                break
            for row in rows:
                write(_row(row), count == 0)
                count += 1
            last_id = rows[-1]["id"]
    if fmt is ExportFormat.JSON:
        stream.write("\n]\n" if count else "]\n")
    return count
