"""Commands over MQTT: `cmd/<verb>/<sender>` (or `cmd/<verb>`) with a JSON payload, answered on
`reply/<request_id>`.

Verbs: pause, resume, stop (a campaign), add_leads, add_dnc, status; each can be switched off
(`[mqtt.verbs]`). Every payload is validated by a pydantic model before anything happens; a bad one
gets a reply naming each field and the reason and changes nothing (add_leads and add_dnc are all or
nothing, and bounded per message and per minute by `[mqtt.limits]`). Every command, done or refused,
gets an audit row (kind `command`).

Who sent it: MQTT (3.1.1 and 5) gives a subscriber no identity of the publisher, and a name in the
payload would be whatever the sender claims. So commands are taken only over a broker connection the
dialer authenticated (`MqttConfig.commands_accepted`), where the broker's ACL decides who may publish
on which topic; the shipped ACL (config/mosquitto/dialer.acl) lets each operator publish only on
`cmd/+/<own username>`. The audit records that topic level as the sender (`actor` = `mqtt:<name>`),
with the dialer's own broker identity (its username, or its client certificate's fingerprint) as the
channel it came through; `cmd/<verb>` without a sender level is recorded as `mqtt:unnamed`.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import re
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Annotated, Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

import dialer
from dialer.clock import Clock
from dialer.engine import Engine
from dialer.leads.importer import ImportOptions, LeadInput, import_rows
from dialer.logs import mask_text
from dialer.mqtt.config import MqttConfig
from dialer.mqtt.payloads import ErrorDetail, ReplyPayload
from dialer.numbers import NumberError, PhoneNumber, normalise
from dialer.store import Database, Tx, campaigns
from dialer.store.audit import AuditEntry, add_entry
from dialer.store.states import CampaignState

log = structlog.get_logger("dialer.mqtt.commands")

MAX_PAYLOAD_BYTES = 1 << 20
MAX_ITEMS = 1000  # leads or numbers per command: larger lists belong in `dialer import`
UNKNOWN_REQUEST = "unknown"  # reply topic suffix when the request id itself is missing or invalid
WINDOW_S = 60.0  # the per-minute limits' rolling window
# Unix seconds a DNC entry may expire at: 2000-01-01 .. 2100-01-01 (a typo like -1e308, NaN or
# infinity is a field error, not an overflow deep in the store).
EXPIRES_MIN, EXPIRES_MAX = 946_684_800.0, 4_102_444_800.0
_SENDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@:-]{0,63}")

RequestId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
CampaignName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Region = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
RawNumber = Annotated[str, Field(min_length=1, max_length=40)]


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: RequestId


class CampaignCommand(_Command):
    """pause / resume / stop: `{"request_id": "r1", "campaign": "spring"}`."""

    campaign: CampaignName


class LeadIn(BaseModel):
    """One lead of add_leads; `region` (ISO country) is needed only for national-format numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    number: RawNumber
    region: Region | None = None
    name: str | None = Field(default=None, max_length=200)
    priority: int = Field(default=0, ge=-1000, le=1000, allow_inf_nan=False)
    attributes: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=500)]] = Field(
        default_factory=dict, max_length=50)


class AddLeadsCommand(_Command):
    """add_leads: `{"request_id": "r2", "campaign": "spring", "leads": [{"number": "+14155550123"}]}`."""

    campaign: CampaignName
    leads: list[LeadIn] = Field(min_length=1, max_length=MAX_ITEMS)


class AddDncCommand(_Command):
    """add_dnc: numbers onto the internal DNC list, or a campaign's list when `campaign` is given."""

    numbers: list[RawNumber] = Field(min_length=1, max_length=MAX_ITEMS)
    region: Region | None = None
    campaign: CampaignName | None = None
    expires_at: float | None = Field(default=None, allow_inf_nan=False,
                                     description="unix seconds (2000..2100); none = for good")
    note: str | None = Field(default=None, max_length=200)

    @field_validator("expires_at")
    @classmethod
    def _a_real_time(cls, value: float | None) -> float | None:
        # In words, not in unix seconds: the reply's text is masked like a log line.
        if value is not None and not EXPIRES_MIN <= value <= EXPIRES_MAX:
            raise ValueError("must be a unix time between 2000-01-01 and 2100-01-01 (UTC)")
        return value


class StatusCommand(_Command):
    """status: `{"request_id": "r3"}`."""


COMMANDS: dict[str, type[_Command]] = {
    "pause": CampaignCommand,
    "resume": CampaignCommand,
    "stop": CampaignCommand,
    "add_leads": AddLeadsCommand,
    "add_dnc": AddDncCommand,
    "status": StatusCommand,
}
CAMPAIGN_STATES = {"pause": CampaignState.PAUSED, "resume": CampaignState.ACTIVE, "stop": CampaignState.FINISHED}


class CommandRefused(Exception):
    """The command is well formed but cannot be done; nothing was changed."""

    def __init__(self, errors: Sequence[ErrorDetail]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))
        self.errors = list(errors)


def refuse(field: str, reason: str) -> CommandRefused:
    """A refusal naming one field."""
    return CommandRefused([ErrorDetail(field=field, reason=reason)])


# -- the DNC store -------------------------------------------------------------------------------


def compliance_store() -> ModuleType | None:
    """The compliance store (`dialer.store.compliance`: DNC lists, migration 2), or None in a build
    that does not have it yet; add_dnc then refuses and changes nothing."""
    try:
        return importlib.import_module("dialer.store.compliance")
    except ModuleNotFoundError:
        return None


# -- the handler ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sender:
    """Who a command came from, as far as MQTT can tell (see the module docstring)."""

    name: str | None  # the topic level after the verb, None for `cmd/<verb>`
    via: str  # the dialer's own broker identity, the channel the command came through
    verified: bool  # the connection is authenticated, so the broker's ACL stands behind `name`

    @property
    def actor(self) -> str:
        """The audit actor: `mqtt:<sender>`, `mqtt:unnamed`."""
        return f"mqtt:{self.name or 'unnamed'}"

    def describe(self) -> str:
        """For the audit detail."""
        who = f"sender {self.name!r} (topic level" + (", checked by the broker's ACL)" if self.verified
                                                       else ", NOT checked: unauthenticated connection)")
        if self.name is None:
            who = "no sender named (topic cmd/<verb>)"
        return f"{who}; via {self.via}"


def parse_sender(level: str | None, via: str, verified: bool) -> Sender | str:
    """The Sender for a topic's sender level, or the reason it is unusable."""
    if level is not None and not _SENDER.fullmatch(level):
        return f"sender topic level {mask_text(level[:64])!r} is not a user name"
    return Sender(level, via, verified)


class RateWindow:
    """Amounts over a rolling window (e.g. leads added in the last minute), on the caller's clock."""

    def __init__(self, limit: int, window_s: float = WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._items: deque[tuple[float, int]] = deque()
        self._total = 0

    def _expire(self, now: float) -> None:
        while self._items and self._items[0][0] <= now - self.window_s:
            self._total -= self._items.popleft()[1]

    def used(self, now: float) -> int:
        """The amount within the window ending at `now`."""
        self._expire(now)
        return self._total

    def retry_after_s(self, amount: int, now: float) -> float | None:
        """None if `amount` more fits within the limit now, else the seconds until it would."""
        self._expire(now)
        if self._total + amount <= self.limit:
            return None
        if amount > self.limit:
            return self.window_s
        total = self._total
        for at, size in self._items:
            total -= size
            if total + amount <= self.limit:
                return max(0.0, at + self.window_s - now)
        return self.window_s

    def add(self, amount: int, now: float) -> None:
        """Count `amount` at `now`."""
        self._expire(now)
        self._items.append((now, amount))
        self._total += amount


@dataclass(frozen=True, slots=True)
class CommandContext:
    """What commands act on."""

    db: Database
    engine: Engine
    clock: Clock
    node: str
    started_at: float
    backlog: Callable[[], Awaitable[int]]
    connected: Callable[[], bool]
    campaign_changed: Callable[[str], None]
    config: Callable[[], MqttConfig]


def _errors(exc: ValidationError) -> list[ErrorDetail]:
    details = []
    for err in exc.errors():
        field = ".".join(str(part) for part in err.get("loc", ())) or "payload"
        reason = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            reason = "unknown field"
        details.append(ErrorDetail(field=field, reason=mask_text(reason)))
    return details


class CommandHandler:
    """Validates, limits, runs and audits one command; returns the reply topic suffix (the request id)
    and the reply."""

    def __init__(self, context: CommandContext) -> None:
        self.ctx = context
        self.handled = 0
        limits = context.config().limits
        self._commands = RateWindow(limits.commands_per_minute)
        self._items = {"add_leads": RateWindow(limits.add_leads_per_minute),
                       "add_dnc": RateWindow(limits.add_dnc_per_minute)}
        self._throttled = 0  # commands refused over commands_per_minute, not yet in the audit
        self._throttled_since: float | None = None

    async def handle(self, verb: str, payload: bytes, sender: Sender) -> tuple[str, ReplyPayload]:
        """Never raises for a bad command: every problem becomes a reply with ok = false."""
        self.handled += 1
        now = self.ctx.clock.now()
        shown_verb = mask_text(verb[:64])
        data, errors = _decode(payload)
        request_id = _request_id(data)
        wait_s = self._commands.retry_after_s(1, now)
        if wait_s is not None:
            return request_id, self._throttle(shown_verb, request_id, now, wait_s)
        self._commands.add(1, now)
        if self._throttled:
            await self._audit_throttled(now)
        audit = _Audit(sender, shown_verb, request_id)
        result: dict[str, Any] | None = None
        if not errors:
            errors = self._refusal(verb)
        if not errors:
            try:
                command = COMMANDS[verb].model_validate(data)
            except ValidationError as exc:
                errors = _errors(exc)
            else:
                try:
                    result = await self._run(verb, command, audit)
                except CommandRefused as exc:
                    errors = exc.errors
                    audit.written = False  # a row written inside the change's transaction was rolled back
                except Exception:
                    log.exception("mqtt_command_failed", verb=shown_verb, request_id=request_id)
                    errors = [ErrorDetail(field="payload", reason="internal error; see the dialer's log")]
                    audit.written = False
        ok = not errors
        if not audit.written:
            await self._write_audit(audit, now, ok, result, errors)
        log.info("mqtt_command", verb=shown_verb, request_id=request_id, ok=ok, actor=sender.actor,
                 errors=[f"{e.field}: {e.reason}" for e in errors] or None)
        reply = ReplyPayload(request_id=request_id, verb=shown_verb, node=self.ctx.node, at=now, ok=ok,
                             result=result if ok else None, errors=errors)
        return request_id, reply

    def _refusal(self, verb: str) -> list[ErrorDetail]:
        if verb not in COMMANDS:
            reason = f"unknown verb {mask_text(verb[:64])!r} (known: {', '.join(sorted(COMMANDS))})"
            return [ErrorDetail(field="verb", reason=reason)]
        if not getattr(self.ctx.config().verbs, verb):
            return [ErrorDetail(field="verb", reason=f"{verb} is switched off on this node (mqtt.verbs.{verb})")]
        return []

    def _throttle(self, verb: str, request_id: str, now: float, wait_s: float) -> ReplyPayload:
        # No audit row per refused message (a flood would fill the table): one row counts them
        # when commands are taken again, or at stop (`flush_audit`).
        if not self._throttled:
            self._throttled_since = now
            log.warning("mqtt_commands_throttled", limit=self._commands.limit, note="one audit row counts them")
        self._throttled += 1
        reason = (f"too many commands: {self._commands.limit} in the last minute "
                  f"(mqtt.limits.commands_per_minute); retry in {wait_s:.0f} s")
        return ReplyPayload(request_id=request_id, verb=verb, node=self.ctx.node, at=now, ok=False,
                            errors=[ErrorDetail(field="payload", reason=reason)])

    async def _audit_throttled(self, now: float) -> None:
        count, since = self._throttled, self._throttled_since
        self._throttled, self._throttled_since = 0, None
        detail = (f"{count} command(s) refused between {since:.3f} and {now:.3f}: over "
                  f"mqtt.limits.commands_per_minute = {self._commands.limit}")
        async with self.ctx.db.write() as tx:
            await add_entry(tx, AuditEntry(now, "command", "mqtt", detail, verdict="refused", rule="mqtt.limits"))

    async def flush_audit(self) -> None:
        """Write the count of throttled commands not yet on record (at stop)."""
        if self._throttled:
            await self._audit_throttled(self.ctx.clock.now())

    async def _write_audit(self, audit: _Audit, now: float, ok: bool, result: dict[str, Any] | None,
                           errors: Sequence[ErrorDetail]) -> None:
        try:
            async with self.ctx.db.write() as tx:
                await add_entry(tx, audit.entry(now, ok, result, errors))
        except Exception:  # the reply still goes out; the log says the audit row is missing
            log.exception("mqtt_command_audit_failed", verb=audit.verb, request_id=audit.request_id)

    async def _run(self, verb: str, command: _Command, audit: _Audit) -> dict[str, Any]:
        if isinstance(command, CampaignCommand):
            return await self._campaign_state(verb, command, audit)
        if isinstance(command, AddLeadsCommand):
            return await self._add_leads(command, audit)
        if isinstance(command, AddDncCommand):
            return await self._add_dnc(command, audit)
        return await self._status()

    def _check_limits(self, verb: str, field: str, count: int, what: str) -> None:
        limits = self.ctx.config().limits
        per_message = getattr(limits, f"{verb}_per_message")
        if count > per_message:
            raise refuse(field, f"{count} {what} in one message; at most {per_message} "
                                f"(mqtt.limits.{verb}_per_message)")
        now = self.ctx.clock.now()
        window = self._items[verb]
        window.limit = getattr(limits, f"{verb}_per_minute")
        wait_s = window.retry_after_s(count, now)
        if wait_s is not None:
            raise refuse(field, f"{window.used(now)} {what} added in the last minute; {count} more would pass "
                                f"mqtt.limits.{verb}_per_minute = {window.limit}; retry in {wait_s:.0f} s")

    async def _campaign_state(self, verb: str, command: CampaignCommand, audit: _Audit) -> dict[str, Any]:
        state = CAMPAIGN_STATES[verb]
        now = self.ctx.clock.now()
        async with self.ctx.db.write() as tx:
            previous = await campaigns.campaign_state(tx, command.campaign)
            if previous is None:
                raise refuse("campaign", f"no campaign {command.campaign!r} on this node")
            await campaigns.set_state(tx, command.campaign, state, now)
            result = {"campaign": command.campaign, "state": state.value, "previous": previous.value}
            await audit.write(tx, now, result, campaign=command.campaign)  # with the change it records
        self.ctx.campaign_changed(command.campaign)
        return result

    async def _add_leads(self, command: AddLeadsCommand, audit: _Audit) -> dict[str, Any]:
        campaign = self.ctx.engine.config.campaigns.get(command.campaign)
        if campaign is None:
            raise refuse("campaign", f"no campaign {command.campaign!r} in this node's config")
        self._check_limits("add_leads", "leads", len(command.leads), "leads")
        region = campaign.default_region
        # phonenumbers costs tens of µs a number: off the event loop.
        numbers = await asyncio.to_thread(
            _normalise_all, [(lead.number, lead.region or region) for lead in command.leads])
        errors = [ErrorDetail(field=f"leads.{i}.number", reason=result)
                  for i, result in enumerate(numbers) if isinstance(result, str)]
        if errors:
            raise CommandRefused(errors)
        leads = [LeadInput(lead.number, lead.region, lead.name, lead.priority, dict(lead.attributes))
                 for lead in command.leads]
        options = ImportOptions(region, actor="mqtt", list_name="mqtt",
                                required_attributes=self.ctx.engine.config.required_lead_attributes(command.campaign))
        report = await import_rows(self.ctx.db, command.campaign, leads, options, self.ctx.clock.now(),
                                   source=f"mqtt request {command.request_id}")
        assert report.result is not None  # not strict: an import of rows is never refused
        result = report.result
        self._items["add_leads"].add(len(command.leads), self.ctx.clock.now())
        self.ctx.campaign_changed(command.campaign)
        audit.campaign = command.campaign
        return {"campaign": command.campaign, "new_leads": result.new_leads,
                "existing_leads": result.existing_leads, "merged": report.duplicates}

    async def _add_dnc(self, command: AddDncCommand, audit: _Audit) -> dict[str, Any]:
        if command.campaign is not None and command.campaign not in self.ctx.engine.config.campaigns:
            raise refuse("campaign", f"no campaign {command.campaign!r} in this node's config")
        if command.expires_at is not None and command.expires_at <= self.ctx.clock.now():
            raise refuse("expires_at", "is in the past: the entry would never block (leave it out for good)")
        self._check_limits("add_dnc", "numbers", len(command.numbers), "numbers")
        numbers = await asyncio.to_thread(_normalise_all, [(raw, command.region or "ZZ") for raw in command.numbers])
        hint = "" if command.region else " (give region for national numbers)"
        errors = [ErrorDetail(field=f"numbers.{i}", reason=result + hint)
                  for i, result in enumerate(numbers) if isinstance(result, str)]
        if errors:
            raise CommandRefused(errors)
        store = compliance_store()
        if store is None:
            raise refuse("payload", "DNC lists cannot be changed on this node: this build has no DNC store")
        kind = store.DncKind.CAMPAIGN if command.campaign else store.DncKind.INTERNAL
        source = f"mqtt request {command.request_id}" + (f": {command.note}" if command.note else "")
        unique = list(dict.fromkeys(n.e164 for n in numbers if isinstance(n, PhoneNumber)))
        entries = [store.NewDncEntry(number=e164, kind=kind, campaign=command.campaign, source=source,
                                     expires_at=command.expires_at) for e164 in unique]
        now = self.ctx.clock.now()
        stamp = store.ChangeStamp(actor=audit.sender.actor, now=now, hash_key=await self.ctx.db.hash_key())
        # One transaction: the entries, their audit rows and the command's; the engine picks the change
        # up by its revision before it claims the next leads.
        async with self.ctx.db.write() as tx:
            revision = await store.add_dnc(tx, entries, stamp)
            result = {"added": len(entries), "list": kind.value, "campaign": command.campaign, "revision": revision}
            await audit.write(tx, now, result, campaign=command.campaign)
        self._items["add_dnc"].add(len(command.numbers), now)
        return result

    async def _status(self) -> dict[str, Any]:
        engine = self.ctx.engine
        async with self.ctx.db.read() as tx:
            states = {name: state.value for name, state in (await campaigns.states_by_name(tx)).items()}
        stats = engine.stats
        return {
            "version": dialer.__version__,
            "started_at": self.ctx.started_at,
            "ami_connected": bool(engine.ami is not None and engine.ami.connected),
            "mqtt_connected": self.ctx.connected(),
            "draining": engine.draining,
            "live_calls": len(engine.tracker),
            "live_by_campaign": dict(engine.tracker.live_by_campaign()),
            "campaigns": states,
            "originated": stats.originated,
            "ended": stats.ended,
            "blocked": stats.blocked,
            "outbox_backlog": await self.ctx.backlog(),
        }


def _decode(payload: bytes) -> tuple[dict[str, Any], list[ErrorDetail]]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        return {}, [ErrorDetail(field="payload", reason=f"larger than {MAX_PAYLOAD_BYTES} bytes")]
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {}, [ErrorDetail(field="payload", reason=mask_text(f"not JSON: {exc}"))]
    except (RecursionError, ValueError):  # nested too deep, or an integer too long to convert
        return {}, [ErrorDetail(field="payload", reason="not usable JSON: nested too deep or a number too long")]
    if not isinstance(data, dict):
        return {}, [ErrorDetail(field="payload", reason="must be a JSON object")]
    return data, []


def _request_id(data: dict[str, Any]) -> str:
    """The request id if it is valid (it becomes a topic level), else `unknown`."""
    try:
        return StatusCommand.model_validate({"request_id": data.get("request_id")}).request_id
    except ValidationError:
        return UNKNOWN_REQUEST


def _normalise_all(items: Sequence[tuple[str, str]]) -> list[PhoneNumber | str]:
    out: list[PhoneNumber | str] = []
    for raw, region in items:
        try:
            out.append(normalise(raw, region))
        except NumberError as exc:
            out.append(exc.reason)
    return out


class _Audit:
    """The audit row of one command: written inside the transaction of the change when there is one
    (`write`), else by the handler once the command is done or refused."""

    def __init__(self, sender: Sender, verb: str, request_id: str) -> None:
        self.sender = sender
        self.verb = verb
        self.request_id = request_id
        self.campaign: str | None = None
        self.written = False

    def entry(self, now: float, ok: bool, result: dict[str, Any] | None,
              errors: Sequence[ErrorDetail] = ()) -> AuditEntry:
        """The row."""
        outcome = (f"done: {json.dumps(result, sort_keys=True)}" if ok
                   else "refused: " + "; ".join(f"{e.field}: {e.reason}" for e in errors))
        detail = f"{self.verb} {outcome} (MQTT request {self.request_id}; {self.sender.describe()})"
        return AuditEntry(now, "command", self.sender.actor, mask_text(detail), campaign=self.campaign,
                          verdict="done" if ok else "refused")

    async def write(self, tx: Tx, now: float, result: dict[str, Any], *, campaign: str | None) -> None:
        """Inside the change's transaction."""
        self.campaign = campaign
        await add_entry(tx, self.entry(now, True, result))
        self.written = True
