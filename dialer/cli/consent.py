"""`dialer consent add|revoke|import|list`: the consent records the gate reads before every call.

The daemon reads a number's consents from the store in the transaction that claims its lead, so a
change here applies to the very next decision about that number.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from dialer.cli.common import ConfigOption, WorkdirOption, err, fail, out, resolve_config
from dialer.cli.compliance_args import (
    InputError,
    check_campaign,
    check_region,
    free_text,
    iso,
    not_in_future,
    open_store,
    parse_expiry,
    parse_time,
    quiet_logs,
    stamp,
    typed_number,
)
from dialer.clock import SystemClock
from dialer.compliance import Channel
from dialer.config import Config
from dialer.numbers import mask
from dialer.store import Tx
from dialer.store import compliance as store

consent_app = typer.Typer(help="Consent records (who agreed to be called, for what, until when).",
                          no_args_is_help=True)

IMPORT_COLUMNS = ("number", "source", "granted_at", "campaign", "expires_at", "channel", "revoked_at")
REQUIRED_COLUMNS = ("number", "source", "granted_at")
SHOW_BAD = 50
T = TypeVar("T")


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""
    app.add_typer(consent_app, name="consent")


NumberArg = Annotated[str, typer.Argument(help="The number (national: see --region).")]
CampaignOption = Annotated[str | None, typer.Option(help="Only this campaign (default: every campaign).")]
RegionOption = Annotated[str, typer.Option(help="Region for national numbers.")]


def _number(raw: str, region: str) -> str:
    try:
        return typed_number(raw, check_region(region)).e164
    except InputError as exc:
        fail(f"number: {exc}", 2)


def _channel(text: str | None) -> Channel | None:
    """call | sms; empty = both."""
    if not text:
        return None
    try:
        return Channel(text.strip().lower())
    except ValueError:
        raise InputError(f"{text!r} is not call or sms (empty = both)") from None


async def _change(config: Config, now: float, apply: Callable[[Tx, store.ChangeStamp], Awaitable[T]]) -> T:
    """Run one change in one transaction, stamped with this user and `now`."""
    async with open_store(config, create=False) as db:
        change = await stamp(db, now)
        async with db.write() as tx:
            return await apply(tx, change)


@consent_app.command("add")
def add(
    number: NumberArg,
    source: Annotated[str, typer.Option(help="Where the consent was given (form, recording id; no numbers).")],
    campaign: CampaignOption = None,
    granted_at: Annotated[str | None, typer.Option(help="ISO-8601 time it was given (default: now).")] = None,
    expires: Annotated[str | None, typer.Option(help="ISO-8601 time, or a duration: 365d.")] = None,
    channel: Annotated[str | None, typer.Option(help="call or sms (default: both).")] = None,
    region: RegionOption = "US",
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Record that the person agreed to be called (for one campaign, or every campaign)."""
    quiet_logs()
    resolved = resolve_config(config, workdir)
    check_campaign(resolved, campaign)
    e164 = _number(number, region)
    now = SystemClock().now()
    try:
        source = free_text(source, "--source", check_region(region))
        granted = not_in_future(parse_time(granted_at), now, "--granted-at") if granted_at else now
        expires_at = parse_expiry(expires, granted) if expires else None
        kind = _channel(channel)
    except InputError as exc:
        fail(str(exc), 2)
    record = store.NewConsent(e164, source, granted, campaign, expires_at, kind)
    asyncio.run(_change(resolved, now, lambda tx, s: store.add_consents(tx, [record], s)))
    scope = f"campaign {campaign}" if campaign else "every campaign"
    out.print(f"consent of {mask(e164)} recorded for {scope}" + (f" until {iso(expires_at)}" if expires_at else ""),
              markup=False)


@consent_app.command("revoke")
def revoke(
    number: NumberArg,
    campaign: CampaignOption = None,
    source: Annotated[str, typer.Option(help="How the person withdrew consent (free text, no numbers).")] = "cli",
    region: RegionOption = "US",
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Withdraw consent (one campaign's, or all); the number is blocked from now on, even where no
    campaign requires consent."""
    quiet_logs()
    resolved = resolve_config(config, workdir)
    check_campaign(resolved, campaign)
    e164 = _number(number, region)
    try:
        source = free_text(source, "--source", check_region(region))
    except InputError as exc:
        fail(str(exc), 2)
    revoked = asyncio.run(_change(resolved, SystemClock().now(),
                                  lambda tx, s: store.revoke_consent(tx, e164, campaign, source, s)))
    out.print(f"consent of {mask(e164)} revoked ({revoked} record(s); the revocation is on record)", markup=False)


@consent_app.command("list")
def list_consents(
    number: NumberArg,
    region: RegionOption = "US",
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """A number's consent records (the number masked)."""
    quiet_logs()
    resolved = resolve_config(config, workdir)
    e164 = _number(number, region)

    async def go() -> tuple[store.ConsentRecord, ...]:
        async with open_store(resolved, create=False) as db, db.read() as tx:
            return (await store.consents_for(tx, [e164])).get(e164, ())

    records = asyncio.run(go())
    for r in records:
        out.print(f"{mask(e164)}\t{r.scope or 'all campaigns'}\t{r.channel or 'call+sms'}\tgranted {iso(r.granted_at)}"
                  f"\t{'expires ' + iso(r.expires_at) if r.expires_at else 'no expiry'}"
                  f"\t{'revoked ' + iso(r.revoked_at) if r.revoked_at else 'in force'}\t{r.source}", markup=False)
    out.print(f"{len(records)} record(s)", markup=False)


@consent_app.command("import")
def import_consents(
    file: Annotated[Path, typer.Argument(help="CSV with a header: " + ", ".join(IMPORT_COLUMNS) + ".")],
    region: RegionOption = "US",
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Import consent records from CSV (number, source, granted_at required). Any bad row: nothing is
    imported, and every bad row is named by line and column."""
    quiet_logs()
    resolved = resolve_config(config, workdir)
    records, bad = read_consents(file, check_region(region), set(resolved.campaigns))
    for line in bad[:SHOW_BAD]:
        err.print(line, markup=False, highlight=False, soft_wrap=True)
    if len(bad) > SHOW_BAD:
        err.print(f"... and {len(bad) - SHOW_BAD} more", highlight=False)
    if bad:
        fail(f"{file}: {len(bad)} bad row(s); nothing imported", 1)
    count = asyncio.run(_change(resolved, SystemClock().now(), lambda tx, s: store.add_consents(tx, records, s)))
    out.print(f"{file}: {count} consent record(s) imported", markup=False)


def read_consents(file: Path, region: str, campaigns: set[str]) -> tuple[list[store.NewConsent], list[str]]:
    """(records, "FILE:line N: column: reason" for every bad row)."""
    records: list[store.NewConsent] = []
    bad: list[str] = []
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip().lower() for h in reader.fieldnames or []]
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            unknown = [h for h in header if h not in IMPORT_COLUMNS]
            if missing or unknown:
                problems = ([f"missing column(s) {', '.join(missing)}"] if missing else []) + (
                    [f"unknown column(s) {', '.join(unknown)}"] if unknown else [])
                return [], [f"{file}:line 1: header: {'; '.join(problems)} (columns: {', '.join(IMPORT_COLUMNS)})"]
            reader.fieldnames = header
            for row in reader:
                line = reader.line_num
                try:
                    records.append(_consent(row, region, campaigns))
                except _BadField as exc:
                    bad.append(f"{file}:line {line}: {exc.column}: {exc.reason}")
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        fail(f"{file}: cannot read: {getattr(exc, 'strerror', None) or exc}", 2)
    return records, bad


class _BadField(ValueError):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


def _parse(row: dict[str, str | None], column: str, parse: Callable[[str], T], *, required: bool) -> T | None:
    """The column's value parsed, None if empty and optional; _BadField naming the column otherwise."""
    text = (row.get(column) or "").strip()
    if not text:
        if required:
            raise _BadField(column, "empty")
        return None
    try:
        return parse(text)
    except InputError as exc:
        raise _BadField(column, str(exc)) from None


def _consent(row: dict[str, str | None], region: str, campaigns: set[str]) -> store.NewConsent:
    def campaign(text: str) -> str:
        if text not in campaigns:
            raise InputError(f"campaign {text!r} is not defined in the config")
        return text

    now = SystemClock().now()
    number = _parse(row, "number", lambda t: typed_number(t, region).e164, required=True)
    source = _parse(row, "source", lambda t: free_text(t, "source", region), required=True)
    granted = _parse(row, "granted_at", lambda t: not_in_future(parse_time(t), now, "granted_at"), required=True)
    if number is None or source is None or granted is None:  # required=True never returns None
        raise _BadField("number", "missing")
    return store.NewConsent(
        number=number, source=source, granted_at=granted,
        scope=_parse(row, "campaign", campaign, required=False),
        expires_at=_parse(row, "expires_at", lambda t: parse_expiry(t, granted), required=False),
        channel=_parse(row, "channel", _channel, required=False),
        revoked_at=_parse(row, "revoked_at", parse_time, required=False),
    )
