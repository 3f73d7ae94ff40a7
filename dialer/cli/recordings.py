"""`dialer recordings missing|purge|verify|hold|release|holds`."""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import typer

from dialer.cli.common import ConfigOption, WorkdirOption, fail, out, resolve_config
from dialer.cli.database import open_db
from dialer.cli.progress import progress
from dialer.clock import SystemClock
from dialer.config import Config
from dialer.recordings import store
from dialer.recordings.audit_check import verify_archive
from dialer.recordings.retention import lift_hold, place_hold, purge
from dialer.store import Database

recordings_app = typer.Typer(help="Call recordings: problems, retention, legal holds, integrity.",
                             no_args_is_help=True)

T = TypeVar("T")
FormatOption = Annotated[str, typer.Option("--format", "-f", help="table or json.")]
CallOption = Annotated[str | None, typer.Option("--call", help="A call id.")]
CampaignOption = Annotated[str | None, typer.Option("--campaign", help="A campaign name.")]


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""
    app.add_typer(recordings_app, name="recordings")


def _run(config: Config, work: Callable[[Database], Awaitable[T]]) -> T:
    async def go() -> T:
        async with open_db(config) as db:
            return await work(db)

    return asyncio.run(go())


def _when(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _scope(call: str | None, campaign: str | None) -> tuple[str, str]:
    if call is not None and campaign is None:
        return ("call", call)
    if campaign is not None and call is None:
        return ("campaign", campaign)
    return fail("give exactly one of --call ID or --campaign NAME", 2)


def _emit(rows: list[dict[str, Any]], fmt: str, columns: list[str]) -> None:
    if fmt == "json":
        out.print_json(json.dumps(rows))
        return
    if fmt != "table":
        fail(f"unknown format {fmt!r} (table or json)", 2)
    out.print("\t".join(columns))
    for row in rows:
        out.print("\t".join("" if row.get(c) is None else str(row[c]) for c in columns), markup=False)


@recordings_app.command("missing")
def missing(config: ConfigOption = None, workdir: WorkdirOption = None, fmt: FormatOption = "table") -> None:
    """Calls whose recording is missing or broken (and pending ones past the close timeout)."""
    resolved = resolve_config(config, workdir)
    older_than = SystemClock().now() - resolved.recordings.close_timeout_s

    async def work(db: Database) -> list[dict[str, Any]]:
        async with db.read() as tx:
            return [dict(row) for row in await store.problems(tx, older_than)]

    rows = _run(resolved, work)
    for row in rows:
        row["ended"] = _when(row["created_at"])
    _emit(rows, fmt, ["call_id", "campaign_id", "ended", "status", "problem", "path"])
    if fmt == "table":
        out.print(f"{len(rows)} call(s) without a good recording")


@recordings_app.command("purge")
def purge_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be deleted; change nothing.")] = False,
    config: ConfigOption = None, workdir: WorkdirOption = None, fmt: FormatOption = "table",
) -> None:
    """Delete recordings past their campaign's retention_days (legal holds excepted)."""
    resolved = resolve_config(config, workdir)
    report = _run(resolved, lambda db: purge(db, resolved, SystemClock().now(), dry_run=dry_run, actor=_actor()))
    rows = [{"call_id": f.call_id, "campaign_id": f.campaign_id, "created": _when(f.created_at),
             "retention_days": f.retention_days, "path": f.path} for f in report.files]
    _emit(rows, fmt, ["call_id", "campaign_id", "created", "retention_days", "path"])
    if fmt == "table":
        verb = "would delete" if dry_run else "deleted"
        out.print(f"{verb} {len(report.files)} recording(s); {report.held} kept by a legal hold")
        for path, reason in report.failed:
            out.print(f"cannot delete {path}: {reason}", markup=False)
    if report.failed:
        raise typer.Exit(1)


@recordings_app.command("verify")
def verify(config: ConfigOption = None, workdir: WorkdirOption = None, campaign: CampaignOption = None,
           fmt: FormatOption = "table") -> None:
    """Re-hash the archive; exit 1 if a file changed or vanished."""
    resolved = resolve_config(config, workdir)
    with progress("re-hashing recordings") as advance:
        report = _run(resolved, lambda db: verify_archive(db, SystemClock().now(), campaign, advance))
    rows = [{"call_id": f.call_id, "campaign_id": f.campaign_id, "problem": f.problem, "path": f.path}
            for f in report.findings]
    _emit(rows, fmt, ["call_id", "campaign_id", "problem", "path"])
    if fmt == "table":
        out.print(f"checked {report.checked} file(s): {len(report.findings)} changed or vanished")
    if not report.ok:
        raise typer.Exit(1)


@recordings_app.command("hold")
def hold(reason: Annotated[str, typer.Option("--reason", help="Why (case, request), for the audit.")],
         call: CallOption = None, campaign: CampaignOption = None,
         config: ConfigOption = None, workdir: WorkdirOption = None) -> None:
    """Put a legal hold on a call's or a campaign's recordings: they are never purged until released."""
    scope, target = _scope(call, campaign)
    if not reason.strip():
        fail("--reason must say why", 2)
    resolved = resolve_config(config, workdir)
    placed = _run(resolved, lambda db: place_hold(db, scope, target, reason.strip(), SystemClock().now(), _actor()))
    out.print(f"hold on {scope} {target}: {'placed' if placed else 'already in place'}", markup=False)


@recordings_app.command("release")
def release(call: CallOption = None, campaign: CampaignOption = None,
            config: ConfigOption = None, workdir: WorkdirOption = None) -> None:
    """Release a legal hold (retention applies again at the next purge)."""
    scope, target = _scope(call, campaign)
    resolved = resolve_config(config, workdir)
    released = _run(resolved, lambda db: lift_hold(db, scope, target, SystemClock().now(), _actor()))
    if not released:
        fail(f"no active hold on {scope} {target}")
    out.print(f"hold on {scope} {target}: released", markup=False)


@recordings_app.command("holds")
def holds(config: ConfigOption = None, workdir: WorkdirOption = None, fmt: FormatOption = "table") -> None:
    """Active legal holds."""
    resolved = resolve_config(config, workdir)

    async def work(db: Database) -> list[dict[str, Any]]:
        async with db.read() as tx:
            return [dict(row) for row in await store.holds(tx)]

    rows = _run(resolved, work)
    for row in rows:
        row["since"] = _when(row["created_at"])
    _emit(rows, fmt, ["scope", "target", "since", "created_by", "reason"])
