"""What the compliance commands share: reading times, numbers and the acting user; opening the store."""

from __future__ import annotations

import getpass
import os
import re
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime

import phonenumbers

from dialer.cli.common import fail, store_exit_code
from dialer.config import Config
from dialer.logs import configure_logging
from dialer.numbers import NumberError, PhoneNumber, normalise
from dialer.store import Database, StoreError
from dialer.store import compliance as store

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([dhm])")
_UNIT_S = {"d": 86_400.0, "h": 3_600.0, "m": 60.0}
# Formatting a person may type around a number on the command line; the gate sees none of it.
_TYPED_FORMATTING = str.maketrans("", "", " ()")


class InputError(ValueError):
    """A value from the command line or a file that cannot be used, with the reason."""


def parse_time(text: str) -> float:
    """ISO-8601 with a UTC offset ("2026-07-04T10:00-04:00", "...Z"), or a date (midnight UTC)."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{text!r} is not an ISO-8601 date or time") from None
    if moment.tzinfo is None:
        raise InputError(f"{text!r} has no UTC offset: add one, e.g. {value}Z or {value}-05:00")
    return moment.timestamp()


def parse_expiry(text: str, now: float) -> float:
    """An expiry: an ISO-8601 time (see parse_time) or a duration from now ("30d", "12h", "90m")."""
    match = _DURATION.fullmatch(text.strip())
    if match is not None:
        return now + float(match.group(1)) * _UNIT_S[match.group(2)]
    return parse_time(text)


def iso(ts: float | None, timespec: str = "seconds") -> str:
    """Unix seconds as ISO-8601 UTC ("" for None)."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def typed_number(raw: str, region: str) -> PhoneNumber:
    """A number typed by a person, in national or international form; InputError if unusable."""
    try:
        return normalise(raw.translate(_TYPED_FORMATTING), region)
    except NumberError as exc:
        raise InputError(exc.reason) from None


def strip_formatting(raw: str) -> str:
    """Drop the spaces and parentheses people type around numbers."""
    return raw.translate(_TYPED_FORMATTING)


def check_region(region: str) -> str:
    """An ISO region code phonenumbers knows (upper case); exit 2 otherwise."""
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        fail(f"--region {region!r} is not an ISO 3166 region code phonenumbers knows", 2)
    return code


def check_campaign(config: Config, campaign: str | None) -> None:
    """Exit 2 unless `campaign` is None or defined in the config."""
    if campaign is not None and campaign not in config.campaigns:
        known = ", ".join(sorted(config.campaigns)) or "none"
        fail(f"campaign {campaign!r} is not defined in the config (defined: {known})", 2)


def quiet_logs() -> None:
    """Warnings and errors only, on stderr: stdout carries the command's output (JSON, CSV)."""
    configure_logging("warning", "auto", stream=sys.stderr)


def actor() -> str:
    """Who runs the command (the sudo caller when there is one), for the audit trail."""
    try:
        return os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


@asynccontextmanager
async def open_store(config: Config, *, create: bool) -> AsyncIterator[Database]:
    """The config's database; exit 65/66/74 if it cannot be opened (dialer.ops.exit_codes), 1 if it fails
    underway (nothing half-done: every change is one transaction)."""
    try:
        async with Database.open(config.database.path, create=create) as db:
            yield db
    except StoreError as exc:
        fail(str(exc), store_exit_code(exc))
    except sqlite3.Error as exc:
        fail(f"{config.database.path}: {exc}; nothing changed", 1)


async def stamp(db: Database, now: float) -> store.ChangeStamp:
    """The audit stamp of a change made by this command's user."""
    return store.ChangeStamp(actor(), now, await db.hash_key())
