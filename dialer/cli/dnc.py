"""`dialer dnc add|remove|list|import`: the internal and campaign DNC lists, opt-outs, national registries.

List changes go to the store (with an audit row each); a running daemon applies them before it
claims its next leads. `import` builds a registry's compact file beside the old one and swaps it in
atomically: a failed import leaves the registry in use untouched; a running daemon notices the new
file within `dnc.refresh_interval_s` and swaps it in whole.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import phonenumbers
import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from dialer.cli.common import ConfigOption, WorkdirOption, err, fail, is_terminal, out, resolve_config
from dialer.cli.compliance_args import (
    InputError,
    check_campaign,
    check_region,
    free_text,
    iso,
    open_store,
    parse_expiry,
    parse_time,
    quiet_logs,
    stamp,
    typed_number,
)
from dialer.clock import SystemClock
from dialer.compliance.registry import (
    US_REGISTRY_REGIONS,
    RegistryError,
    RegistryFormat,
    RegistryInfo,
    build_registry,
    file_checksum,
)
from dialer.compliance.settings import registry_dir, registry_path
from dialer.config import Config
from dialer.logs import mask_text
from dialer.numbers import mask
from dialer.store import compliance as store

dnc_app = typer.Typer(help="Do-not-call lists, opt-outs and national registries.", no_args_is_help=True)

_REGISTRY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_US_CSV_LINE = re.compile(rb"\s*\d{3}\s*,\s*\d{7}\s*")
SHOW_BAD = 50


class ImportFormat(StrEnum):
    """Registry source layouts (auto: US CSV if the first data line looks like `AAA,NNNNNNN`)."""

    AUTO = "auto"
    LINES = "lines"
    US_CSV = "us_csv"


class ListFormat(StrEnum):
    """Output of `dnc list`."""

    TEXT = "text"
    JSON = "json"


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""
    app.add_typer(dnc_app, name="dnc")


def _kind(campaign: str | None, optout: bool) -> store.DncKind:
    if optout:
        return store.DncKind.OPTOUT
    return store.DncKind.CAMPAIGN if campaign is not None else store.DncKind.INTERNAL


def _file_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a one-number-per-line file; blank lines and # comments skipped."""
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                text = line.strip()
                if text and not text.startswith("#"):
                    yield number, text
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}", 2)


def _numbers(args: list[str], file: Path | None, region: str) -> list[str]:
    """Normalised numbers from arguments and a file; exits 1 naming every bad one (nothing changed)."""
    found: dict[str, None] = {}
    bad: list[str] = []
    sources: list[tuple[str, str]] = [(f"argument {i}", raw) for i, raw in enumerate(args, 1)]
    if file is not None:
        sources += [(f"{file}:{line}", raw) for line, raw in _file_lines(file)]
    for where, raw in sources:
        try:
            found[typed_number(raw, region).e164] = None
        except InputError as exc:
            bad.append(f"{where}: number: {exc}")
    for line in bad[:SHOW_BAD]:
        err.print(line, markup=False, highlight=False, soft_wrap=True)
    if len(bad) > SHOW_BAD:
        err.print(f"... and {len(bad) - SHOW_BAD} more", highlight=False)
    if bad:
        fail(f"{len(bad)} bad number(s); nothing changed", 1)
    if not found:
        fail("no numbers given (arguments or --file)", 2)
    return list(found)


NumbersArg = Annotated[list[str] | None, typer.Argument(help="Numbers (national: see --region).")]
FileOption = Annotated[Path | None, typer.Option("--file", help="More numbers, one per line (# comments).")]
CampaignOption = Annotated[str | None, typer.Option(help="The campaign's own list (or an opt-out's scope).")]
OptoutOption = Annotated[bool, typer.Option("--optout", help="An opt-out (the person asked not to be called).")]
RegionOption = Annotated[str, typer.Option(help="Region for national numbers.")]


@dnc_app.command("add")
def add(
    numbers: NumbersArg = None,
    file: FileOption = None,
    campaign: CampaignOption = None,
    optout: OptoutOption = False,
    expires: Annotated[str | None, typer.Option(help="ISO-8601 time, or a duration: 30d, 12h, 90m.")] = None,
    source: Annotated[str, typer.Option(help="Where the request came from (free text, no numbers).")] = "cli",
    region: RegionOption = "US",
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Put numbers on the internal list, a campaign's list (--campaign) or the opt-outs (--optout)."""
    quiet_logs()
    resolved = resolve_config(config, workdir)
    check_campaign(resolved, campaign)
    try:
        source = free_text(source, "--source", check_region(region))
    except InputError as exc:
        fail(str(exc), 2)
    wanted = _numbers(numbers or [], file, check_region(region))
    now = SystemClock().now()
    try:
        expires_at = parse_expiry(expires, now) if expires else None
    except InputError as exc:
        fail(f"--expires: {exc}", 2)
    if expires_at is not None and expires_at <= now:
        fail("--expires: that time has passed", 2)
    kind = _kind(campaign, optout)
    entries = [store.NewDncEntry(n, kind, campaign, source, expires_at) for n in wanted]

    async def go() -> store.DncAdded:
        async with open_store(resolved, create=False) as db:
            change = await stamp(db, now)
            async with db.write() as tx:
                return await store.add_dnc_entries(tx, entries, change)

    done = asyncio.run(go())
    where = f"campaign {campaign}'s list" if kind is store.DncKind.CAMPAIGN else f"the {kind.value} list"
    until = f" until {iso(expires_at)}" if expires_at else ""
    parts = [f"{done.added} number(s) added to {where}{until}"]
    if done.unchanged:
        parts.append(f"{done.unchanged} already on it (unchanged)")
    if done.extended:
        parts.append(f"{done.extended} already on it with an earlier expiry (extended{until})")
    out.print("; ".join(parts))


@dnc_app.command("remove")
def remove(
    numbers: NumbersArg = None,
    file: FileOption = None,
    campaign: CampaignOption = None,
    optout: OptoutOption = False,
    registry: Annotated[str | None, typer.Option(help="Stop using this national registry (deletes its file).")] = None,
    region: RegionOption = "US",
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Take numbers off a list (their entries stay on record, marked removed), or drop a registry."""
    quiet_logs()
    resolved = resolve_config(config, workdir)
    if registry is not None:
        if numbers or file:
            fail("give numbers or --registry, not both", 2)
        _remove_registry(resolved, registry)
        return
    check_campaign(resolved, campaign)
    wanted = _numbers(numbers or [], file, check_region(region))
    kind = _kind(campaign, optout)

    async def go() -> int:
        async with open_store(resolved, create=False) as db:
            change = await stamp(db, SystemClock().now())
            async with db.write() as tx:
                return await store.remove_dnc(tx, wanted, kind, campaign, change)

    removed = asyncio.run(go())
    out.print(f"{removed} entr{'y' if removed == 1 else 'ies'} removed from the {kind.value} list", markup=False)
    if not removed:
        raise typer.Exit(1)


def _remove_registry(config: Config, name: str) -> None:
    async def go() -> store.RegistryRecord | None:
        async with open_store(config, create=False) as db:
            change = await stamp(db, SystemClock().now())
            async with db.write() as tx:
                return await store.remove_registry(tx, name, change)

    record = asyncio.run(go())
    if record is None:
        fail(f"no registry {name!r} on record", 1)
    Path(record.path).unlink(missing_ok=True)
    out.print(f"registry {name!r} removed; a running daemon stops using it within "
              f"{config.dnc.refresh_interval_s:g} s", markup=False)


@dnc_app.command("list")
def list_entries(
    campaign: Annotated[str | None, typer.Option(help="Only this campaign's list.")] = None,
    kind: Annotated[store.DncKind | None, typer.Option("--list", help="internal, campaign or optout.")] = None,
    number: Annotated[str | None, typer.Option(help="Only entries of this number.")] = None,
    region: RegionOption = "US",
    show_numbers: Annotated[bool, typer.Option(
        "--show-numbers", help="Print whole numbers (default: masked).")] = False,
    removed: Annotated[bool, typer.Option("--removed", help="Include removed entries.")] = False,
    fmt: Annotated[ListFormat, typer.Option("--format", "-f", help="text or json.")] = ListFormat.TEXT,
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """DNC entries (numbers masked unless --show-numbers) and the national registries on record."""
    quiet_logs()
    resolved = resolve_config(config, workdir)
    try:
        only = typed_number(number, check_region(region)).e164 if number else None
    except InputError as exc:
        fail(f"--number: {exc}", 2)

    async def go() -> tuple[list[store.DncEntry], list[store.RegistryRecord]]:
        async with open_store(resolved, create=False) as db, db.read() as tx:
            entries = await store.list_dnc(tx, kind, campaign, include_removed=removed, number=only)
            return entries, await store.registries(tx)

    entries, records = asyncio.run(go())
    show = (lambda n: n) if show_numbers else mask
    now = SystemClock().now()
    if fmt is ListFormat.JSON:
        print(json.dumps({
            "entries": [{"number": show(e.number), "list": e.kind.value, "campaign": e.campaign,
                         "source": e.source if show_numbers else mask_text(e.source),
                         "added_at": iso(e.added_at), "expires_at": iso(e.expires_at) or None,
                         "removed_at": iso(e.removed_at) or None, "actor": e.actor} for e in entries],
            "registries": [_registry_json(r, now) for r in records],
        }))
        return
    for e in entries:
        state = (f"removed {iso(e.removed_at)}" if e.removed_at else
                 f"expires {iso(e.expires_at)}" if e.expires_at else "no expiry")
        scope = e.campaign or ("all campaigns" if e.kind is store.DncKind.OPTOUT else "-")
        out.print(f"{show(e.number)}\t{e.kind.value}\t{scope}\t{state}\tadded {iso(e.added_at)} by {e.actor} "
                  f"({e.source if show_numbers else mask_text(e.source)})")
    out.print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}", markup=False)
    for r in records:
        data = _registry_json(r, now)
        out.print(f"registry {r.name}: {r.count:,} numbers, data as of {data['data_as_of']} "
                  f"({data['age_days']} days old), imported {data['loaded_at']} by {r.actor} from {r.source_file}, "
                  f"{r.checksum}, regions {' '.join(r.regions) or 'all of +' + str(r.country_code)}", markup=False)


def _registry_json(record: store.RegistryRecord, now: float) -> dict[str, Any]:
    return {"name": record.name, "count": record.count, "data_as_of": iso(record.data_as_of),
            "age_days": round((now - record.data_as_of) / 86_400, 1), "loaded_at": iso(record.loaded_at),
            "path": record.path, "checksum": record.checksum, "country_code": record.country_code,
            "regions": list(record.regions), "source_file": record.source_file, "actor": record.actor}


# -- registry import ------------------------------------------------------------------------------


def _sniff(path: Path) -> RegistryFormat:
    """US CSV if the first line with digits is `AAA,NNNNNNN`, else one number per line."""
    try:
        with path.open("rb") as handle:
            for line in handle:
                if any(48 <= c <= 57 for c in line):
                    return RegistryFormat.US_CSV if _US_CSV_LINE.fullmatch(line) else RegistryFormat.LINES
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror}", 2)
    return RegistryFormat.LINES


@dnc_app.command("import")
def import_registry(
    file: Annotated[Path, typer.Argument(help="The registry download: one number per line, or AAA,NNNNNNN.")],
    source: Annotated[str, typer.Option("--source", help="The registry's name, e.g. us-national.")],
    fmt: Annotated[ImportFormat, typer.Option("--format", help="auto, lines or us_csv.")] = ImportFormat.AUTO,
    region: Annotated[str, typer.Option(help="The registry's country (national numbers, coverage).")] = "US",
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="When the registry's data was published (default: the file's modification time).")] = None,
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Import a national DNC registry file; it replaces the registry of that name atomically."""
    quiet_logs()
    resolved = resolve_config(config, workdir)
    if not _REGISTRY_NAME.fullmatch(source):
        fail(f"--source {source!r}: use letters, digits, '.', '_' or '-' (it names the registry's file)", 2)
    code = check_region(region)
    country_code = phonenumbers.country_code_for_region(code)
    try:
        size = file.stat().st_size
        data_as_of = parse_time(as_of) if as_of else file.stat().st_mtime
    except OSError as exc:
        fail(f"{file}: cannot read: {exc.strerror}", 2)
    except InputError as exc:
        fail(f"--as-of: {exc}", 2)
    layout = _sniff(file) if fmt is ImportFormat.AUTO else RegistryFormat(fmt.value)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(code)
    trunk_prefix = (metadata.national_prefix_for_parsing or metadata.national_prefix or "") if metadata else ""
    regions = US_REGISTRY_REGIONS if code == "US" else (code,)
    target = registry_path(registry_dir(resolved.dnc, resolved.database.path), source).absolute()
    if layout is RegistryFormat.US_CSV and country_code != 1:
        fail("--format us_csv is the US registry's layout (country code 1)", 2)
    kwargs: dict[str, Any] = {
        "name": source, "fmt": layout, "data_as_of": datetime.fromtimestamp(data_as_of, UTC),
        "country_code": country_code, "regions": regions,
        "trunk_prefix": trunk_prefix if trunk_prefix.isdigit() else "",
    }
    try:
        info = _build(file, target, size, kwargs)
    except RegistryError as exc:
        fail(f"{exc}; nothing imported, the registry in use is unchanged", 1)
    record = store.RegistryRecord(
        name=source, path=str(target), data_as_of=data_as_of, loaded_at=SystemClock().now(), count=info.count,
        checksum=file_checksum(target), country_code=country_code, regions=info.regions, source_file=file.name,
        actor="",
    )

    async def go() -> None:
        async with open_store(resolved, create=False) as db:
            change = await stamp(db, record.loaded_at)
            async with db.write() as tx:
                await store.record_registry(tx, record, change)

    asyncio.run(go())
    bits = info.file_bytes * 8 / info.count if info.count else 0.0
    out.print(f"registry {source}: {info.count:,} numbers from {file.name} ({layout.value}), data as of "
              f"{iso(data_as_of)}; {info.file_bytes / 1e6:.1f} MB ({bits:.1f} bits/number) at {target}. "
              f"A running daemon swaps it in within {resolved.dnc.refresh_interval_s:g} s.", markup=False)


def _build(file: Path, target: Path, size: int, kwargs: dict[str, Any]) -> RegistryInfo:
    if not is_terminal():
        return build_registry(file, target, **kwargs)
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task(f"reading {file.name}", total=size)

        def on_progress(done: int) -> None:
            progress.update(task, completed=done)
            if done >= size:
                progress.update(task, description="sorting and writing the index")

        return build_registry(file, target, on_progress=on_progress, **kwargs)
