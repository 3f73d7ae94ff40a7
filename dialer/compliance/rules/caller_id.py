"""Caller-ID rule: a campaign presents a valid, dialable caller ID or it does not originate."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from dialer.compliance.model import Channel, GateRequest, RuleResult, Verdict
from dialer.compliance.opening import utc_iso
from dialer.compliance.rules.number import is_emergency_or_service
from dialer.numbers import NumberError, PhoneNumber, mask, normalise

CALLER_ID = "caller_id"

_WITH_BRACKETS = re.compile(r'\s*(?:"(?P<quoted>[^"]*)"|(?P<bare>[^"<>]*?))\s*<(?P<number>[^<>]*)>\s*')
# Names that hide who is calling; presenting them is what the caller-ID rules forbid.
_WITHHELD = frozenset({"anonymous", "restricted", "private", "unknown", "unavailable", "withheld"})
MAX_NAME_CHARS = 64


class CallerIdError(ValueError):
    """A caller ID that cannot be presented; `reason` says why (never the full number)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CallerId:
    """A presentable caller ID: an optional display name and a valid E.164 number."""

    name: str
    number: PhoneNumber

    def ami(self) -> str:
        """The CallerID header value for AMI Originate: `"Name" <+E164>` or `<+E164>`."""
        return f'"{self.name}" <{self.number.e164}>' if self.name else f"<{self.number.e164}>"


def parse_caller_id(text: str, default_region: str, blocked_types: tuple[str, ...] = ()) -> CallerId:
    """Parse `"Name" <number>`, `Name <number>` or a bare number; raise CallerIdError if not presentable."""
    match = _WITH_BRACKETS.fullmatch(text)
    if match is not None:
        name = (match.group("quoted") if match.group("quoted") is not None else match.group("bare")).strip()
        raw = match.group("number").strip()
    elif '"' in text or "<" in text or ">" in text:
        raise CallerIdError('caller ID is neither `"Name" <number>` nor a bare number')
    else:
        name, raw = "", text.strip()
    _check_name(name)
    if not raw:
        raise CallerIdError("caller ID has no number")
    if is_emergency_or_service(raw.replace(" ", ""), default_region):
        raise CallerIdError("caller ID number is an emergency/service number")
    try:
        number = normalise(raw, default_region)
    except NumberError as exc:
        raise CallerIdError(f"caller ID number is not valid ({exc.reason})") from exc
    if number.number_type.value in blocked_types:
        raise CallerIdError(f"caller ID number {mask(number.e164)} is a {number.number_type} number")
    return CallerId(name, number)


def _check_name(name: str) -> None:
    if len(name) > MAX_NAME_CHARS:
        raise CallerIdError(f"caller ID name is longer than {MAX_NAME_CHARS} characters")
    # Control characters (CR/LF above all) would let a name inject AMI headers.
    if any(unicodedata.category(c).startswith("C") or c in '"<>\\' for c in name):
        raise CallerIdError("caller ID name contains control characters or quotes")
    if name.strip().lower() in _WITHHELD:
        raise CallerIdError(f"caller ID name {name!r} withholds the caller's identity")


@lru_cache(maxsize=256)
def _parsed(text: str, region: str, blocked: tuple[str, ...]) -> CallerId | str:
    """Caller IDs repeat for every lead of a campaign: parse each once."""
    try:
        return parse_caller_id(text, region, blocked)
    except CallerIdError as exc:
        return exc.reason


class CallerIdRule:
    """Blocks a campaign's calls unless its caller ID is valid and presentable."""

    id = CALLER_ID

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Parse the request's caller ID; a block is campaign-wide and re-checked later."""
        if request.channel is not Channel.CALL:
            return RuleResult(self.id, Verdict.ALLOW, f"not applicable to {request.channel}")
        retry_at = now.timestamp() + request.policy.campaign_recheck_s
        if not request.caller_id:
            detail = f"campaign has no caller ID and cannot originate; re-check at {utc_iso(retry_at)}"
            return RuleResult(self.id, Verdict.BLOCK, detail, retry_at=retry_at, campaign_wide=True)
        parsed = _parsed(request.caller_id, request.default_region, request.policy.blocked_number_types)
        if isinstance(parsed, str):
            detail = f"{parsed}; the campaign cannot originate; re-check at {utc_iso(retry_at)}"
            return RuleResult(self.id, Verdict.BLOCK, detail, retry_at=retry_at, campaign_wide=True)
        return RuleResult(
            self.id, Verdict.ALLOW, f"caller ID {mask(parsed.number.e164)} ({parsed.number.region})"
        )
