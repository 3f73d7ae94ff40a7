"""`dialer contact show|search|note|tag|export`, `dialer callback` and `dialer forget`.

Contacts are named by a number (national form: see --region) or by their id (`12`, `id:12`, `#12`).
These commands show personal data to the person running them (that is their job); nothing of it
goes to the logs, which carry masked numbers only.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Coroutine
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from dialer.cli.common import ConfigOption, WorkdirOption, fail, out, resolve_config
from dialer.cli.compliance_args import (
    InputError,
    actor,
    check_campaign,
    check_region,
    iso,
    open_store,
    parse_expiry,
    quiet_logs,
    typed_number,
)
from dialer.clock import SystemClock
from dialer.config import Config
from dialer.crm import service
from dialer.crm import store as crm
from dialer.crm.erasure import ErasureResult
from dialer.crm.render import render_history
from dialer.numbers import mask
from dialer.ops.perms import open_private
from dialer.recordings.removal import NotDeleted

T = TypeVar("T")
contact_app = typer.Typer(help="Contacts: history, search, notes, tags, export.", no_args_is_help=True)

KeyArg = Annotated[str, typer.Argument(help="A number (national: see --region) or a contact id (12, id:12).")]
RegionOption = Annotated[str, typer.Option(help="Region for numbers in national form.")]
ByOption = Annotated[str | None, typer.Option("--by", help="Who does this (default: the OS user).")]


class ShowFormat(StrEnum):
    """Output of `contact show`."""

    TEXT = "text"
    JSON = "json"


class ExportFormat(StrEnum):
    """Formats of `contact export`."""

    CSV = "csv"
    JSON = "json"


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""
    app.add_typer(contact_app, name="contact")
    app.command("callback")(callback)
    app.command("forget")(forget)


def _key(text: str, region: str) -> tuple[str, str | int]:
    try:
        return crm.parse_key(text, check_region(region))
    except crm.ContactNotFound as exc:
        fail(str(exc), 2)


def _run_lookup(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except crm.ContactNotFound as exc:
        fail(str(exc), 1)


@contact_app.command("show")
def show(
    key: KeyArg,
    fmt: Annotated[ShowFormat, typer.Option("--format", "-f", help="text or json.")] = ShowFormat.TEXT,
    region: RegionOption = "US",
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """A contact's whole history: every attempt (time, campaign, outcome, talk time, recording, the
    gate decision), the decisions that blocked it, DNC and consent now, callbacks, messages, notes."""
    quiet_logs()
    resolved = resolve_config(config, workdir)
    kind, value = _key(key, region)

    async def go() -> crm.ContactHistory:
        async with open_store(resolved, create=False) as db:
            return await service.history(db, kind, value, SystemClock().now())

    history = _run_lookup(go())
    if fmt is ShowFormat.JSON:
        print(json.dumps(history.to_json(), ensure_ascii=False, indent=2))
    else:
        out.print(render_history(history))


@contact_app.command("search")
def search(
    name: Annotated[str | None, typer.Option(help="Part of the name (any case).")] = None,
    number: Annotated[str | None, typer.Option(help="Digits anywhere in a number.")] = None,
    tag: Annotated[str | None, typer.Option(help="Has this tag.")] = None,
    attr: Annotated[str | None, typer.Option(
        help="An attribute from the import: KEY=VALUE, any case and script; quotes around VALUE are dropped.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    fmt: Annotated[ShowFormat, typer.Option("--format", "-f", help="text or json.")] = ShowFormat.TEXT,
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Find contacts by name, number fragment, tag or attribute (all given must match)."""
    quiet_logs()
    resolved = resolve_config(config, workdir)
    attribute = None
    if attr is not None:
        k, sep, v = attr.partition("=")
        if not sep or not k.strip():
            fail("--attr must be KEY=VALUE", 2)
        attribute = (_unquote(k), _unquote(v))
    if not (name or number or tag or attribute):
        fail("give at least one of --name, --number, --tag, --attr", 2)
    if number is not None and not any(ch.isdigit() for ch in number):
        fail("--number needs digits", 2)

    async def go() -> list[crm.ContactSummary]:
        async with open_store(resolved, create=False) as db, db.read() as tx:
            return await crm.search_contacts(tx, name=name, number=number, tag=tag, attribute=attribute,
                                             limit=limit)

    found = asyncio.run(go())
    if fmt is ShowFormat.JSON:
        print(json.dumps([{"id": c.id, "name": c.name, "numbers": list(c.numbers), "tags": list(c.tags),
                           "attributes": c.attributes, "erased": c.erased} for c in found], ensure_ascii=False))
        return
    table = Table(show_edge=False)
    for column in ("id", "name", "numbers", "tags", "attributes"):
        table.add_column(column, overflow="fold")
    for c in found:
        table.add_row(str(c.id), c.name or ("(erased)" if c.erased else ""), " ".join(c.numbers), " ".join(c.tags),
                      ", ".join(f"{k}={v}" for k, v in sorted(c.attributes.items())))
    out.print(table)
    out.print(f"{len(found)} contact(s)" + (" (limit reached)" if len(found) == limit else ""), markup=False)


def _unquote(text: str) -> str:
    """A value as typed, without one pair of surrounding quotes: city="New York" means New York."""
    value = text.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


@contact_app.command("note")
def note(
    key: KeyArg,
    text: Annotated[str, typer.Argument(help="The note.")],
    by: ByOption = None,
    region: RegionOption = "US",
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Add a free-text note to a contact."""
    quiet_logs()
    resolved = resolve_config(config, workdir)
    body = text.strip()
    if not body:
        fail("the note is empty", 2)
    kind, value = _key(key, region)

    async def go() -> int:
        async with open_store(resolved, create=False) as db:
            return await service.note(db, kind, value, body, by or actor(), SystemClock().now())

    contact_id = _run_lookup(go())
    out.print(f"note added to contact #{contact_id}", markup=False)


@contact_app.command("tag")
def tag(
    key: KeyArg,
    tags: Annotated[list[str], typer.Argument(help="One or more tags.")],
    remove: Annotated[bool, typer.Option("--remove", help="Take these tags off instead.")] = False,
    by: ByOption = None,
    region: RegionOption = "US",
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Tag a contact (or untag it with --remove)."""
    quiet_logs()
    resolved = resolve_config(config, workdir)
    try:
        clean = sorted({crm.check_tag(t) for t in tags})
    except ValueError as exc:
        fail(str(exc), 2)
    kind, value = _key(key, region)

    async def go() -> tuple[int, int]:
        async with open_store(resolved, create=False) as db:
            return await service.tag(db, kind, value, clean, by or actor(), SystemClock().now(), remove=remove)

    contact_id, changed = _run_lookup(go())
    verb = "removed from" if remove else "added to"
    out.print(f"{changed} tag(s) {verb} contact #{contact_id}", markup=False)


@contact_app.command("export")
def export(
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="csv or json.")] = ExportFormat.CSV,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here (mode 0600), not stdout.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only contacts with this tag.")] = None,
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Export contacts with their history: CSV (one row per attempt or block) or JSON (one object each)."""
    quiet_logs()
    resolved = resolve_config(config, workdir)
    writer = service.export_json if fmt is ExportFormat.JSON else service.export_csv

    async def go() -> int:
        async with open_store(resolved, create=False) as db:
            now = SystemClock().now()
            if output is None:
                return await writer(db, sys.stdout, now, tag)
            # Personal data: readable by the owner only, written whole or not at all.
            partial = output.with_name(output.name + ".part")
            with open_private(partial, file_mode=0o600, newline="") as handle:
                count = await writer(db, handle, now, tag)
            os.replace(partial, output)
            return count

    try:
        count = asyncio.run(go())
    except BrokenPipeError:
        raise  # the reader went away (`| head`): main ends quietly
    except OSError as exc:
        if output is None:
            raise
        output.with_name(output.name + ".part").unlink(missing_ok=True)
        fail(f"cannot write {output}: {exc.strerror}", 1)
    if output is not None:
        out.print(f"{output}: {count} contact(s)", markup=False)


def callback(
    number: Annotated[str, typer.Argument(help="The number to call back (national: see --region).")],
    at: Annotated[str, typer.Option("--at", help="When: ISO-8601 with an offset (2026-07-04T10:00-04:00) "
                                                 "or a delay from now (90m, 2h, 1d).")],
    campaign: Annotated[str | None, typer.Option(help="The call campaign (default: the number's latest).")] = None,
    by: ByOption = None,
    region: RegionOption = "US",
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Schedule a callback. It still meets the gate at its time: a closed calling window defers it to
    the next opening, a DNC entry or a missing consent blocks it (see `dialer contact show`)."""
    quiet_logs()
    resolved = resolve_config(config, workdir)
    check_campaign(resolved, campaign)
    now = SystemClock().now()
    try:
        due_at = parse_expiry(at, now)
        default = resolved.campaigns[campaign].default_region if campaign else region
        phone = typed_number(number, check_region(default))
    except InputError as exc:
        fail(str(exc), 2)
    calls = {name for name, c in resolved.campaigns.items() if c.kind == "call"}

    async def go() -> service.ScheduledCallback:
        async with open_store(resolved, create=False) as db:
            return await service.schedule_callback(db, phone, campaign, due_at, by or actor(), now, calls)

    try:
        done = asyncio.run(go())
    except LookupError as exc:
        fail(str(exc), 1)
    lead = f"lead {done.lead_id}" + (" (new)" if done.new_lead else "")
    when = "now" if due_at <= now else iso(due_at)
    out.print(f"callback of {mask(phone.e164)} in {done.campaign} at {when} ({lead}); "
              "it goes through the gate then", markup=False)


def forget(
    number: Annotated[str, typer.Argument(help="The number of the person (national: see --region).")],
    by: ByOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    region: RegionOption = "US",
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Erase a person on request: name, attributes, notes, tags, message texts, recordings, and every
    number of theirs in clear. Their history stays, under pseudonyms (reports count it as before);
    the numbers' keyed hashes go on the suppression list, so they are never called again."""
    quiet_logs()
    resolved = resolve_config(config, workdir)
    try:
        e164 = typed_number(number, check_region(region)).e164
    except InputError as exc:
        fail(str(exc), 2)
    if not yes and not typer.confirm(f"Erase everything about {mask(e164)} (its contact and every number)?"):
        fail("nothing erased", 1)
    who = by or actor()
    result, failed = asyncio.run(_forget(resolved, e164, who))
    out.print(f"{mask(e164)}: {result.summary()}; by {who}", markup=False)
    if failed:
        fail(f"{len(failed)} recording file(s) could not be deleted: {'; '.join(map(str, failed))}", 1)


async def _forget(config: Config, e164: str, who: str) -> tuple[ErasureResult, list[NotDeleted]]:
    async with open_store(config, create=False) as db:
        return await service.forget(db, e164, who, SystemClock().now(), config.recordings)
