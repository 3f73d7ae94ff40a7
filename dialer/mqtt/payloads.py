"""Every MQTT message as a pydantic model: what integrators parse, and what the dialer validates
before a payload leaves the process (a bad payload is a bug here, never the subscriber's problem).

Each event carries `schema_version` (bumped on an incompatible change) and an `event_id` that stays
the same when the message is sent again after a reconnect, so subscribers can drop duplicates.
"""

from __future__ import annotations

import uuid
from pathlib import PurePath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dialer.alerts import Alert
from dialer.events import CallEvent
from dialer.logs import mask_text
from dialer.numbers import mask

SCHEMA_VERSION: Literal[1] = 1

CallStateName = Literal["originating", "ringing", "answered", "ended"]
EventId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
JsonScalar = str | int | float | bool | None


def new_event_id() -> str:
    """A fresh event id (random, 128 bits, hex)."""
    return uuid.uuid4().hex


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: EventId
    node: str
    at: float = Field(description="unix seconds (UTC) when it happened")


class RecordingInfo(BaseModel):
    """What is known about the call's recording when the event is written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str = Field(description="file name only, no folder")
    state: Literal["recording", "closed"]


class CallPayload(_Payload):
    """`calls/<call_id>`: one per state change; the last one of a call has state `ended`."""

    kind: Literal["call"] = "call"
    medium: Literal["call", "sms"] = Field(default="call", description="sms: a text message (originating, then "
                                           "ended with disposition accepted or failed)")
    call_id: str
    attempt_id: int
    lead_id: int
    campaign: str
    number: str = Field(description="masked (+14*******00) unless mqtt.include_numbers = true")
    state: CallStateName
    originated_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    ring_s: float | None = Field(default=None, description="originate to answer")
    talk_s: float | None = None
    duration_s: float | None = Field(default=None, description="originate to end")
    disposition: str | None = None
    reason: int | None = None
    cause: int | None = None
    amd_status: str | None = None
    opted_out: bool = False
    recording: RecordingInfo | None = None
    detail: str | None = None

    @model_validator(mode="after")
    def _disposition_only_at_the_end(self) -> CallPayload:
        if (self.state == "ended") != (self.disposition is not None):
            raise ValueError("an ended call has a disposition, and only an ended call has one")
        return self


class StatusPayload(_Payload):
    """`status` (retained): `online` while connected; the will message and a clean stop set `offline`."""

    kind: Literal["status"] = "status"
    state: Literal["online", "offline"]
    version: str
    started_at: float
    reason: str | None = None


class AlertPayload(_Payload):
    """`alerts`: a condition a person must act on (see dialer.alerts for the kinds)."""

    kind: Literal["alert"] = "alert"
    alert: str = Field(description="the alert kind, e.g. ami_down, recording_missing, outbox_backlog")
    message: str
    data: dict[str, JsonScalar] = Field(default_factory=dict)


class CampaignStatsPayload(_Payload):
    """`campaigns/<id>/stats` (retained): the campaign now, and its calls over the last `window_s`."""

    kind: Literal["campaign_stats"] = "campaign_stats"
    campaign: str
    state: str
    live_calls: int
    leads: dict[str, int] = Field(description="leads by status")
    window_s: float
    ended: int
    by_disposition: dict[str, int]
    answer_rate: float | None
    abandon_rate: float | None
    talk_s_total: float


class ErrorDetail(BaseModel):
    """What is wrong with a command: the field (dotted path, `payload` for the whole) and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    reason: str


class ReplyPayload(BaseModel):
    """`reply/<request_id>`: the answer to one command."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["reply"] = "reply"
    request_id: str
    verb: str
    node: str
    at: float
    ok: bool
    result: dict[str, Any] | None = None
    errors: list[ErrorDetail] = Field(default_factory=list)


# -- building payloads from the engine's shapes ---------------------------------------------------


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def call_payload(event: CallEvent, node: str, *, include_numbers: bool, event_id: str | None = None) -> CallPayload:
    """The message for one call event (numbers masked unless asked for)."""
    ended = event.final
    recording = None
    if event.recording:
        # The file name only: the folder is the PBX's business, and free text is masked like logs.
        # Asterisk closes the file at hangup even without a MixMonitorStop event (DESIGN.md).
        recording = RecordingInfo(file=mask_text(PurePath(event.recording).name),
                                  state="closed" if ended or event.recording_closed else "recording")
    return CallPayload(
        event_id=event_id or new_event_id(),
        node=node,
        at=event.at,
        medium="sms" if event.medium == "sms" else "call",
        call_id=event.call_id,
        attempt_id=event.attempt_id,
        lead_id=event.lead_id,
        campaign=event.campaign,
        number=event.number if include_numbers else mask(event.number),
        state=event.state.value,
        originated_at=event.originated_at,
        answered_at=event.answered_at,
        ended_at=event.at if ended else None,
        ring_s=_round(event.answered_at - event.originated_at) if event.answered_at is not None else None,
        talk_s=_round(event.talk_s),
        duration_s=_round(event.at - event.originated_at) if ended else None,
        disposition=event.disposition.value if ended and event.disposition is not None else None,
        reason=event.reason,
        cause=event.cause,
        amd_status=event.amd_status,
        opted_out=event.opted_out,
        recording=recording,
        detail=mask_text(event.detail) if event.detail else None,
    )


def _scalar(value: Any) -> JsonScalar:
    if value is None or isinstance(value, bool | int | float):
        return value
    return mask_text(str(value))


def alert_payload(alert: Alert, node: str, *, event_id: str | None = None) -> AlertPayload:
    """The message for one alert; free text is masked whatever include_numbers says."""
    return AlertPayload(
        event_id=event_id or new_event_id(), node=node, at=alert.at, alert=alert.kind,
        message=mask_text(alert.message), data={str(k): _scalar(v) for k, v in alert.data.items()},
    )
