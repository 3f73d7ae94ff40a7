"""Helpers for the compliance tests: clocks, policies and requests."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from dialer.compliance import (
    CallingHours,
    CompliancePolicy,
    GateRequest,
)
from dialer.numbers import PhoneNumber, normalise

CALLER_ID = '"Acme Energy" <+12025550199>'

# Every hour of every day, holidays ignored: isolates the rule under test from the window.
ALWAYS = CallingHours(**dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), ("00:00-24:00",)))
OPEN_POLICY = CompliancePolicy(calling_hours=ALWAYS, override_country_hours=True, skip_holidays=False)


def local(zone: str, *args: int, fold: int = 0) -> datetime:
    """A wall-clock time in `zone` (aware)."""
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    """A UTC instant."""
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def number(raw: str, region: str = "US") -> PhoneNumber:
    """A normalised number."""
    return normalise(raw, region)


def request(
    raw: str,
    region: str = "US",
    *,
    policy: CompliancePolicy = OPEN_POLICY,
    pre: PhoneNumber | None = None,
    **fields: object,
) -> GateRequest:
    """A request with a valid caller ID unless told otherwise."""
    fields.setdefault("caller_id", CALLER_ID)
    return GateRequest(number=raw, default_region=region, policy=policy, normalised=pre, **fields)  # type: ignore[arg-type]
