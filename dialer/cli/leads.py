"""`dialer import CAMPAIGN FILE|-` and `dialer leads list|count|disable|enable|delete|recycle CAMPAIGN`.

Every import is a named lead list of its campaign (`--list`, default the file's name); the list
commands select leads by list, status and last disposition, say how many they match before they
change anything (`--dry-run` changes nothing), and write one audit row per change.
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn

from dialer.cli.common import ConfigOption, WorkdirOption, err, fail, out, resolve_config
from dialer.cli.compliance_args import actor, check_region, iso, quiet_logs
from dialer.cli.database import open_db
from dialer.clock import SystemClock
from dialer.config import Config
from dialer.leads.csv_source import CsvFormatError
from dialer.leads.errors_file import ErrorsFile
from dialer.leads.importer import HINT_REGIONS, ImportOptions, ImportReport, import_file
from dialer.leads.sources import STDIN, LeadSource, check_encoding, open_source
from dialer.numbers import mask
from dialer.outcome import Disposition
from dialer.retry import LeadStatus
from dialer.store import Database, Tx
from dialer.store import leads as store
from dialer.store.leads import DuplicatePolicy, LeadFilter

SHOW_BAD_ROWS = 50
T = TypeVar("T")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
_POLICY_WORDS = {
    DuplicatePolicy.MERGE: "merged into the first row of their number",
    DuplicatePolicy.KEEP_FIRST: "the first row of each number kept, later ones ignored",
    DuplicatePolicy.KEEP_LAST: "the last row of each number kept",
}

leads_app = typer.Typer(help="A campaign's leads and lead lists: list, count, disable, enable, delete, recycle.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""
    app.command("import")(import_leads)
    app.add_typer(leads_app, name="leads")


# -- import ------------------------------------------------------------------------------------------

def import_leads(
    campaign: Annotated[str, typer.Argument(help="Campaign name (defined in the config).")],
    file: Annotated[str, typer.Argument(
        help="CSV file with a header row, an Excel workbook (.xlsx, .xls, .ods), or - for standard input.")],
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
    number_column: Annotated[str | None, typer.Option(help="Header of the number column.")] = None,
    region: Annotated[str | None, typer.Option(
        help="Region for numbers in national form (default: the campaign's).")] = None,
    encoding: Annotated[str | None, typer.Option(
        help="The file's text encoding, e.g. cp1252, latin-1 (default: UTF-8, or what its byte-order mark says).")
    ] = None,
    delimiter: Annotated[str | None, typer.Option(
        help="Field separator: , ; tab | or one character (default: found from the header line).")] = None,
    duplicates: Annotated[DuplicatePolicy, typer.Option(
        help="A number's second row (or a number already on record): merge (later names and attributes win, "
             "the highest priority), keep-first, keep-last.")] = DuplicatePolicy.MERGE,
    list_name: Annotated[str | None, typer.Option(
        "--list", help="Name of the lead list (default: the file's name); an existing list gets these rows too.")
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Refuse the whole file if any row is bad.")] = False,
    errors_file: Annotated[Path | None, typer.Option(
        help="Write the rejected rows here as they came in, after import_line and import_error columns: fix them "
             "and import that file (the two columns are ignored).")] = None,
) -> None:
    """Import leads: numbers normalised to E.164, duplicates by --duplicates, bad rows reported by line."""
    quiet_logs()
    resolved = resolve_config(config, workdir)
    if not _NAME.fullmatch(campaign):
        fail(f"campaign {campaign!r}: use letters, digits, '.', '_' or '-'", 2)
    default_region = check_region(region or _campaign_region(resolved, campaign))
    try:
        chosen_encoding = check_encoding(encoding) if encoding else None
    except ValueError as exc:
        fail(f"--encoding: {exc}", 2)
    sep = _delimiter(delimiter) if delimiter is not None else None
    if list_name is not None and not _NAME.fullmatch(list_name):
        fail(f"--list {list_name!r}: use letters, digits, '.', '_' or '-'", 2)
    hints = tuple(dict.fromkeys((*resolved.compliance.allowed_countries, *HINT_REGIONS)))
    options = ImportOptions(default_region=default_region, number_column=number_column, duplicates=duplicates,
                            strict=strict, list_name=list_name, actor=actor(), hint_regions=hints,
                            required_attributes=resolved.required_lead_attributes(campaign))
    # An import allocates millions of small objects that all live until the end: the cyclic GC
    # would rescan them again and again (measured: a third of the import's time) for nothing.
    gc.disable()
    try:
        with _progress() as progress, open_source(file, encoding=chosen_encoding, delimiter=sep,
                                                  on_stage=progress.stage) as source:
            report = _import(resolved, campaign, source, options, errors_file, progress)
    except CsvFormatError as exc:
        fail(f"{_label(file)}: {exc}; nothing imported", 1)
    label = _label(file)
    for bad in report.bad[:SHOW_BAD_ROWS]:
        err.print(f"{label}:{bad}", soft_wrap=True)
    if report.bad_count > SHOW_BAD_ROWS:
        more = f" (all in {errors_file})" if errors_file is not None else " (--errors-file writes them all)"
        err.print(f"... and {report.bad_count - SHOW_BAD_ROWS} more bad rows{more}")
    if report.result is None:
        fail(f"{label}: {report.bad_count} bad rows; nothing imported (--strict)", 1)
    result = report.result
    out.print(f"{label}: {report.rows} rows, {report.numbers} numbers imported into {campaign} as list "
              f"{report.list_name!r} ({result.new_leads} new leads, {result.existing_leads} already there), "
              f"{report.duplicates} duplicate rows ({_POLICY_WORDS[report.policy]}), {report.bad_count} bad rows "
              "skipped" + (f" (written to {errors_file})" if errors_file is not None and report.bad_count else ""))


def _label(file: str) -> str:
    return "stdin" if file == STDIN else file


def _delimiter(text: str) -> str:
    value = _DELIMITER_NAMES.get(text.lower(), text)
    if len(value) != 1 or value in "\"\r\n" or value.isalnum():
        fail(f"--delimiter {text!r}: give one character such as , ; | or tab", 2)
    return value


def _campaign_region(config: Config, campaign: str) -> str:
    if campaign in config.campaigns:
        return config.campaigns[campaign].default_region
    if config.campaigns:
        known = ", ".join(sorted(config.campaigns))
        fail(f"campaign {campaign!r} is not defined in the config (defined: {known})", 2)
    return "US"


class _Stages:
    """Progress of an import's stages on a terminal (reading, normalising, writing); nothing in a pipe."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._tasks: dict[str, Any] = {}

    def stage(self, name: str, total: float | None = None) -> None:
        """Show (or start) a stage."""
        if self._progress is not None and name not in self._tasks:
            self._tasks[name] = self._progress.add_task(name, total=total)

    def update(self, name: str, done: float, total: float | None = None) -> None:
        """Advance a stage."""
        if self._progress is None:
            return
        self.stage(name, total)
        self._progress.update(self._tasks[name], completed=done, total=total or None)  # (None: total unchanged)


@contextmanager
def _progress() -> Iterator[_Stages]:
    if not err.is_terminal:
        yield _Stages(None)
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), MofNCompleteColumn(),
                  console=err, transient=True) as progress:
        yield _Stages(progress)


def _import(config: Config, campaign: str, source: LeadSource, options: ImportOptions, errors_path: Path | None,
            stages: _Stages) -> ImportReport:
    total = source.path.stat().st_size
    errors = ErrorsFile(errors_path) if errors_path is not None else None

    async def go() -> ImportReport:
        async with open_db(config, create=True) as db:
            return await import_file(db, campaign, source, options, SystemClock().now(), errors=errors,
                                     on_read=lambda n: stages.update("reading", n, total),
                                     on_normalised=lambda n: stages.update("normalising", n),
                                     on_written=lambda n: stages.update("writing", n))

    try:
        return asyncio.run(go())
    except OSError as exc:
        if errors_path is not None and exc.filename is not None and str(errors_path) in str(exc.filename):
            fail(f"--errors-file {errors_path}: {exc.strerror}; nothing imported", 1)
        raise


# -- list management ---------------------------------------------------------------------------------

class OutputFormat(StrEnum):
    """Output formats of the leads commands."""

    TEXT = "text"
    JSON = "json"


CampaignArg = Annotated[str, typer.Argument(help="The campaign.")]
ListOption = Annotated[str | None, typer.Option("--list", help="Only the leads of this lead list.")]
StatusOption = Annotated[list[LeadStatus] | None, typer.Option(
    "--status", help="Only leads in this status (repeat for several).")]
DispositionOption = Annotated[list[Disposition] | None, typer.Option(
    "--disposition", help="Only leads whose last attempt ended so (repeat for several).")]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Say how many leads it would change; change nothing.")]
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="text or json.")]


def _run(config: Config, work: Callable[[Database], Awaitable[T]], *, create: bool = False) -> T:
    async def go() -> T:
        async with open_db(config, create=create) as db:
            return await work(db)

    return asyncio.run(go())


async def _selection(tx: Tx, campaign: str, list_name: str | None, statuses: list[LeadStatus] | None,
                     dispositions: list[Disposition] | None) -> LeadFilter:
    """The filter, or exit 2 naming what is unknown (the campaign, the list)."""
    if not await store.campaign_known(tx, campaign):
        fail(f"no campaign {campaign!r} in the database (import leads into it first)", 2)
    if list_name is not None and not await store.list_exists(tx, campaign, list_name):
        names = ", ".join(repr(n) for n in await store.list_names(tx, campaign)) or "none"
        fail(f"campaign {campaign} has no lead list {list_name!r} (lists: {names})", 2)
    return LeadFilter(campaign, list_name, tuple(statuses or ()), tuple(d.value for d in dispositions or ()))


def _describe(selection: LeadFilter) -> str:
    parts = [f"list {selection.list_name!r}" if selection.list_name is not None else "every list"]
    if selection.statuses:
        parts.append("status " + "|".join(s.value for s in selection.statuses))
    if selection.dispositions:
        parts.append("last disposition " + "|".join(selection.dispositions))
    return ", ".join(parts)


@leads_app.command("list")
def list_leads(
    campaign: CampaignArg,
    list_name: ListOption = None,
    status: StatusOption = None,
    disposition: DispositionOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1_000_000, help="At most this many leads.")] = 50,
    show_numbers: Annotated[bool, typer.Option("--show-numbers", help="Whole numbers (default: masked).")] = False,
    fmt: FormatOption = OutputFormat.TEXT,
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """A campaign's leads (id, number, status, attempts, last outcome, next attempt, list)."""
    quiet_logs()
    resolved = resolve_config(config, workdir)

    async def work(db: Database) -> list[dict[str, Any]]:
        async with db.read() as tx:
            selection = await _selection(tx, campaign, list_name, status, disposition)
            return [dict(r) for r in await store.select_leads(tx, selection, limit)]

    rows = _run(resolved, work)
    show = (lambda n: n) if show_numbers else mask
    now = SystemClock().now()
    for row in rows:
        row["number"] = show(row["number"])
        due = row["next_attempt_at"]
        row["next_attempt_at"] = ("now" if due <= now else iso(due)) if row["status"] == LeadStatus.PENDING else ""
        row["last_attempt_at"] = iso(row["last_attempt_at"])
    if fmt is OutputFormat.JSON:
        print(json.dumps(rows))
        return
    for row in rows:
        out.print(f"{row['id']}\t{row['number']}\t{row['status']}\t{row['attempts']} attempts\t"
                  f"{row['last_disposition'] or '-'}\t{row['next_attempt_at'] or '-'}\t"
                  f"list {row['list'] or '(none)'}")
    out.print(f"{len(rows)} lead(s)" + (" (limit reached: --limit)" if len(rows) == limit else ""))


@leads_app.command("count")
def count_leads(
    campaign: CampaignArg,
    list_name: ListOption = None,
    status: StatusOption = None,
    disposition: DispositionOption = None,
    fmt: FormatOption = OutputFormat.TEXT,
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Leads by lead list and status, with each list's import record (file, when, by whom, rows)."""
    quiet_logs()
    resolved = resolve_config(config, workdir)

    async def work(db: Database) -> list[store.ListSummary]:
        async with db.read() as tx:
            selection = await _selection(tx, campaign, list_name, status, disposition)
            return await store.summaries(tx, selection)

    lists = _run(resolved, work)
    if fmt is OutputFormat.JSON:
        print(json.dumps([{"list": s.name, "source": s.source, "imported_at": iso(s.created_at) or None,
                           "imported_by": s.created_by, "imports": s.imports, "rows": s.rows_read,
                           "duplicate_rows": s.duplicate_rows, "bad_rows": s.bad_rows,
                           "leads": sum(s.by_status.values()), "by_status": s.by_status} for s in lists]))
        return
    total: dict[str, int] = {}
    for s in lists:
        for key, value in s.by_status.items():
            total[key] = total.get(key, 0) + value
        name = repr(s.name) if s.name else "(leads imported before lists existed)"
        origin = (f" from {s.source}, {iso(s.created_at)} by {s.created_by or '?'}, {s.imports} import(s), "
                  f"{s.rows_read} rows, {s.duplicate_rows} duplicate, {s.bad_rows} bad") if s.name else ""
        out.print(f"list {name}{origin}")
        out.print(f"  {sum(s.by_status.values())} leads: " + (_statuses(s.by_status) or "none"))
    selection = LeadFilter(campaign, list_name, tuple(status or ()), tuple(d.value for d in disposition or ()))
    out.print(f"{campaign}: {sum(total.values())} leads ({_describe(selection)}): " + (_statuses(total) or "none"))


def _statuses(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items()))


def _change(
    campaign: str, list_name: str | None, statuses: list[LeadStatus] | None, dispositions: list[Disposition] | None,
    dry_run: bool, config: Config, *, action: str, changeable: tuple[LeadStatus, ...], to: LeadStatus,
    reset_attempts: bool = False,
) -> None:
    """Move the matching leads in `changeable` statuses to `to` (one transaction, one audit row)."""
    asked = tuple(statuses or ())
    wrong = [s for s in asked if s not in changeable]
    if wrong:
        fail(f"{action}: leads in status {', '.join(s.value for s in wrong)} cannot be changed so (only "
             f"{', '.join(s.value for s in changeable)})", 2)
    now = SystemClock().now()
    who = actor()

    async def work(db: Database) -> tuple[int, int]:
        async with db.write() as tx:
            selection = await _selection(tx, campaign, list_name, statuses, dispositions)
            matching = await store.count(tx, selection)
            movable = list(asked or changeable)
            if dry_run:
                return matching, await store.count(tx, selection, movable)
            changed = await store.set_status(tx, selection, movable, to, now, reset_attempts=reset_attempts)
            await store.audit(tx, campaign, action, f"{action} {changed} of {matching} matching leads "
                                                    f"({_describe(selection)})", who, now)
            return matching, changed

    matching, changed = _run(config, work)
    verb = {"disable": "disabled", "enable": "enabled", "recycle": "recycled"}[action]
    if dry_run:
        out.print(f"{campaign}: {matching} leads match; {changed} would be {verb} (dry run: nothing changed)")
        return
    out.print(f"{campaign}: {changed} of {matching} matching leads {verb}")


@leads_app.command("disable")
def disable(campaign: CampaignArg, list_name: ListOption = None, status: StatusOption = None,
            disposition: DispositionOption = None, dry_run: DryRunOption = False,
            config: ConfigOption = None, workdir: WorkdirOption = None) -> None:
    """Take pending leads out of dialing (a live call ends as usual); `enable` puts them back."""
    quiet_logs()
    _change(campaign, list_name, status, disposition, dry_run, resolve_config(config, workdir),
            action="disable", changeable=(LeadStatus.PENDING,), to=LeadStatus.DISABLED)


@leads_app.command("enable")
def enable(campaign: CampaignArg, list_name: ListOption = None, status: StatusOption = None,
           disposition: DispositionOption = None, dry_run: DryRunOption = False,
           config: ConfigOption = None, workdir: WorkdirOption = None) -> None:
    """Make disabled leads pending again (each keeps its next attempt time; the gate judges every call)."""
    quiet_logs()
    _change(campaign, list_name, status, disposition, dry_run, resolve_config(config, workdir),
            action="enable", changeable=(LeadStatus.DISABLED,), to=LeadStatus.PENDING)


@leads_app.command("recycle")
def recycle(campaign: CampaignArg, list_name: ListOption = None, status: StatusOption = None,
            disposition: DispositionOption = None, dry_run: DryRunOption = False,
            config: ConfigOption = None, workdir: WorkdirOption = None) -> None:
    """Dial leads again that have ended (default: exhausted ones; --status finished --disposition no_answer
    picks others): pending now with their attempt count reset. The gate still judges every call (DNC,
    opt-outs, consent, hours and the per-number caps apply as always)."""
    quiet_logs()
    changeable = (LeadStatus.EXHAUSTED, LeadStatus.FINISHED, LeadStatus.BLOCKED, LeadStatus.INVALID)
    statuses = status or [LeadStatus.EXHAUSTED]
    _change(campaign, list_name, statuses, disposition, dry_run, resolve_config(config, workdir),
            action="recycle", changeable=changeable, to=LeadStatus.PENDING, reset_attempts=True)


@leads_app.command("delete")
def delete(campaign: CampaignArg, list_name: ListOption = None, status: StatusOption = None,
           disposition: DispositionOption = None, dry_run: DryRunOption = False,
           yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
           config: ConfigOption = None, workdir: WorkdirOption = None) -> None:
    """Delete leads that were never dialled. Leads with attempts or callbacks on record are kept (reports
    and the audit trail need them): disable those instead. Contacts stay (`dialer forget` erases a person)."""
    quiet_logs()
    resolved = resolve_config(config, workdir)
    now = SystemClock().now()
    who = actor()

    async def preview(db: Database) -> tuple[int, int]:
        async with db.read() as tx:
            return await store.deletable(tx, await _selection(tx, campaign, list_name, status, disposition))

    free, kept = _run(resolved, preview)
    if dry_run:
        out.print(f"{campaign}: {free} leads would be deleted, {kept} kept (they have history) (dry run: nothing "
                  "changed)")
        return
    if not free:
        out.print(f"{campaign}: 0 leads deleted, {kept} kept (they have attempts or callbacks on record)")
        return
    if not yes:
        if not sys.stdin.isatty():
            fail(f"deleting {free} leads needs --yes (or --dry-run to see what it would do)", 2)
        if not typer.confirm(f"Delete {free} leads of {campaign}?"):
            fail("nothing deleted", 1)

    async def work(db: Database) -> tuple[int, int]:
        async with db.write() as tx:
            selection = await _selection(tx, campaign, list_name, status, disposition)
            _, kept_now = await store.deletable(tx, selection)
            deleted = await store.delete(tx, selection)
            await store.audit(tx, campaign, "delete", f"deleted {deleted} leads, kept {kept_now} with history "
                                                      f"({_describe(selection)})", who, now)
            return deleted, kept_now

    deleted, kept = _run(resolved, work)
    out.print(f"{campaign}: {deleted} leads deleted, {kept} kept (they have attempts or callbacks on record)")
