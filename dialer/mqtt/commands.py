"""Commands over MQTT: `cmd/<verb>` with a JSON payload, answered on `reply/<request_id>`.

Verbs: pause, resume, stop (a campaign), add_leads, add_dnc, status. Every payload is validated by a
pydantic model before anything happens; a bad one gets a reply naming each field and the reason
and changes nothing (add_leads and add_dnc are all or nothing). MQTT 3.1.1 does not say who sent a
message: the broker's ACL decides who may publish on `cmd/#` (see config/mosquitto/).
"""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Annotated, Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

import dialer
from dialer.clock import Clock
from dialer.engine import Engine
from dialer.leads.importer import ImportOptions, LeadInput, import_rows
from dialer.logs import mask_text
from dialer.mqtt.payloads import ErrorDetail, ReplyPayload
from dialer.numbers import NumberError, PhoneNumber, normalise
from dialer.store import Database, Tx

log = structlog.get_logger("dialer.mqtt.commands")

MAX_PAYLOAD_BYTES = 1 << 20
MAX_ITEMS = 1000  # leads or numbers per command: larger lists belong in `dialer import`
UNKNOWN_REQUEST = "unknown"  # reply topic suffix when the request id itself is missing or invalid

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
    priority: int = Field(default=0, ge=-1000, le=1000)
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
    expires_at: float | None = Field(default=None, description="unix seconds; none = for good")
    note: str | None = Field(default=None, max_length=200)


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
CAMPAIGN_STATES = {"pause": "paused", "resume": "active", "stop": "finished"}


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
    """Validates and runs one command; returns the reply topic suffix (the request id) and the reply."""

    def __init__(self, context: CommandContext) -> None:
        self.ctx = context
        self.handled = 0

    async def handle(self, verb: str, payload: bytes) -> tuple[str, ReplyPayload]:
        """Never raises for a bad command: every problem becomes a reply with ok = false."""
        self.handled += 1
        data, errors = _decode(payload)
        request_id = _request_id(data)
        if verb not in COMMANDS:
            reason = f"unknown verb {mask_text(verb[:64])!r} (known: {', '.join(sorted(COMMANDS))})"
            errors.insert(0, ErrorDetail(field="verb", reason=reason))
        result: dict[str, Any] | None = None
        if not errors:
            try:
                command = COMMANDS[verb].model_validate(data)
            except ValidationError as exc:
                errors = _errors(exc)
            else:
                try:
                    result = await self._run(verb, command)
                except CommandRefused as exc:
                    errors = exc.errors
                except Exception:
                    log.exception("mqtt_command_failed", verb=verb, request_id=request_id)
                    errors = [ErrorDetail(field="payload", reason="internal error; see the dialer's log")]
        ok = not errors
        log.info("mqtt_command", verb=mask_text(verb[:64]), request_id=request_id, ok=ok,
                 errors=[f"{e.field}: {e.reason}" for e in errors] or None)
        reply = ReplyPayload(request_id=request_id, verb=mask_text(verb[:64]), node=self.ctx.node,
                             at=self.ctx.clock.now(), ok=ok, result=result if ok else None, errors=errors)
        return request_id, reply

    async def _run(self, verb: str, command: _Command) -> dict[str, Any]:
        if isinstance(command, CampaignCommand):
            return await self._campaign_state(verb, command)
        if isinstance(command, AddLeadsCommand):
            return await self._add_leads(command)
        if isinstance(command, AddDncCommand):
            return await self._add_dnc(command)
        return await self._status()

    async def _campaign_state(self, verb: str, command: CampaignCommand) -> dict[str, Any]:
        state = CAMPAIGN_STATES[verb]
        now = self.ctx.clock.now()
        async with self.ctx.db.write() as tx:
            row = await tx.fetchone("SELECT state FROM campaigns WHERE id = ?", (command.campaign,))
            if row is None:
                raise refuse("campaign", f"no campaign {command.campaign!r} on this node")
            await tx.execute("UPDATE campaigns SET state = ?, updated_at = ? WHERE id = ?",
                             (state, now, command.campaign))
            await _audit(tx, now, command.campaign, f"{verb} (was {row[0]}) by MQTT request {command.request_id}")
        self.ctx.campaign_changed(command.campaign)
        return {"campaign": command.campaign, "state": state, "previous": row[0]}

    async def _add_leads(self, command: AddLeadsCommand) -> dict[str, Any]:
        campaign = self.ctx.engine.config.campaigns.get(command.campaign)
        if campaign is None:
            raise refuse("campaign", f"no campaign {command.campaign!r} in this node's config")
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
        options = ImportOptions(region, actor="mqtt", list_name="mqtt")
        report = await import_rows(self.ctx.db, command.campaign, leads, options, self.ctx.clock.now(),
                                   source=f"mqtt request {command.request_id}")
        assert report.result is not None  # not strict: an import of rows is never refused
        result = report.result
        self.ctx.campaign_changed(command.campaign)
        return {"campaign": command.campaign, "new_leads": result.new_leads,
                "existing_leads": result.existing_leads, "merged": report.duplicates}

    async def _add_dnc(self, command: AddDncCommand) -> dict[str, Any]:
        if command.campaign is not None and command.campaign not in self.ctx.engine.config.campaigns:
            raise refuse("campaign", f"no campaign {command.campaign!r} in this node's config")
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
        stamp = store.ChangeStamp(actor="mqtt", now=self.ctx.clock.now(), hash_key=await self.ctx.db.hash_key())
        # One transaction: the entries and their audit rows; the engine picks the change up by its
        # revision before it claims the next leads.
        async with self.ctx.db.write() as tx:
            revision = await store.add_dnc(tx, entries, stamp)
        return {"added": len(entries), "list": kind.value, "campaign": command.campaign, "revision": revision}

    async def _status(self) -> dict[str, Any]:
        engine = self.ctx.engine
        async with self.ctx.db.read() as tx:
            campaigns = {row[0]: row[1] for row in await tx.fetchall("SELECT id, state FROM campaigns ORDER BY id")}
        stats = engine.stats
        return {
            "version": dialer.__version__,
            "started_at": self.ctx.started_at,
            "ami_connected": bool(engine.ami is not None and engine.ami.connected),
            "mqtt_connected": self.ctx.connected(),
            "draining": engine.draining,
            "live_calls": len(engine.tracker),
            "live_by_campaign": dict(engine.tracker.live_by_campaign()),
            "campaigns": campaigns,
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
        return {}, [ErrorDetail(field="payload", reason=f"not JSON: {exc}")]
    if not isinstance(data, dict):
        return {}, [ErrorDetail(field="payload", reason="must be a JSON object")]
    return data, []


def _request_id(data: dict[str, Any]) -> str:
    """The request id if it is valid (it becomes a topic level), else `unknown`."""
    try:
        return StatusCommand(request_id=data.get("request_id")).request_id
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


async def _audit(tx: Tx, now: float, campaign: str | None, detail: str) -> None:
    await tx.execute("INSERT INTO audit (at, kind, campaign_id, detail, actor) VALUES (?, 'command', ?, ?, 'mqtt')",
                     (now, campaign, detail))
