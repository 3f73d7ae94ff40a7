"""Calls as a medium: an allowed lead becomes a tracked call and an Originate, sent only after its
attempt row is committed; Asterisk's answer to the Originate maps to the call's outcome."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import structlog

from dialer.ami.answers import Answer, judge_future
from dialer.ami.errors import AmiDisconnected
from dialer.ami.frames import Message
from dialer.ami.originate import OriginateRequest, build_channel, originate_refused
from dialer.config.models import CampaignConfig, Config
from dialer.events import CallEvent
from dialer.numbers import mask, mask_text
from dialer.pipeline.medium import CALL_GATE, GateProfile, Unsendable
from dialer.store import Tx
from dialer.store.calls import DueLead, NewAttempt
from dialer.tracker import CallState, CallTracker, TrackedCall

log = structlog.get_logger("dialer.engine")


class OriginatePort(Protocol):
    """What sending an Originate needs of the AMI client."""

    @property
    def connected(self) -> bool:
        """True while logged in."""
        ...

    def send_nowait(self, fields: Sequence[tuple[str, str]], action_id: str) -> asyncio.Future[Message]:
        """Write an action once; the future resolves with its response."""
        ...


class CallHost(Protocol):
    """What the call medium reads from the engine (read at every call: reload replaces config and ami)."""

    config: Config
    tracker: CallTracker
    variable_providers: list[Callable[[TrackedCall, CampaignConfig], Mapping[str, str]]]

    @property
    def originate_port(self) -> OriginatePort | None:
        """The AMI client, when there is one."""
        ...

    def call_event(self, call: TrackedCall, state: CallState, at: float) -> CallEvent:
        """The event of a call in `state`."""
        ...

    def originate_unconfirmed(self, call: TrackedCall, detail: str) -> None:
        """An Originate whose answer could not be read: the call may be placed (audit it, keep it live)."""
        ...


class CallMedium:
    """The call half of the attempt pipeline (payload: none; outgoing: the tracked call)."""

    def __init__(self, host: CallHost) -> None:
        self._host = host

    @property
    def gate(self) -> GateProfile:
        """Calls: call caps, the caller-ID and abandon-rate rules."""
        return CALL_GATE

    async def prepare(self, tx: Tx, campaign: str, config: CampaignConfig,
                      leads: Sequence[DueLead]) -> list[Unsendable | None]:
        """Nothing to prepare: the Originate is built when sent (a bad dial string fails the attempt then)."""
        return [None] * len(leads)

    def began(self, campaign: str, config: CampaignConfig, lead: DueLead, attempt: NewAttempt, attempt_id: int,
              payload: None, now: float) -> tuple[TrackedCall, DueLead]:
        """The call to track, with the lead it dials."""
        deadline = now + config.ring_timeout_s + self._host.config.dialing.event_timeout_s
        call = TrackedCall(call_id=attempt.call_id, attempt_id=attempt_id, lead_id=lead.lead_id, campaign_id=campaign,
                           number=lead.number, originated_at=now, deadline=deadline)
        return call, lead

    def event(self, outgoing: tuple[TrackedCall, DueLead]) -> CallEvent:
        """The call's `originating` event."""
        call = outgoing[0]
        return self._host.call_event(call, CallState.ORIGINATING, call.originated_at)

    async def record(self, tx: Tx, campaign: str, outgoing: Sequence[tuple[TrackedCall, DueLead]],
                     unsendable: Sequence[Unsendable], key: bytes, now: float) -> None:
        """Calls have no rows of their own beyond the attempt row."""

    def send(self, campaign: str, config: CampaignConfig, outgoing: tuple[TrackedCall, DueLead]) -> None:
        """Track the call and send its Originate (its answer arrives in `_answered`)."""
        host = self._host
        call, lead = outgoing
        call_id = call.call_id
        trunk = host.config.trunks[config.trunk]
        host.tracker.track(call)
        variables = {"DIALER_CALL_ID": call_id, "DIALER_CAMPAIGN": campaign}
        if config.amd:
            variables["DIALER_AMD"] = "1"
        if config.mode == "queue":
            variables["DIALER_MODE"] = "queue"
        variables.update(config.variables)
        for provider in host.variable_providers:
            variables.update(provider(call, config))
        try:
            request = OriginateRequest(
                call_id=call_id,
                channel=build_channel(trunk.channel, lead.number, trunk.number_format, trunk.prefix),
                context=config.context,
                exten=config.exten,
                priority=config.priority,
                timeout_ms=int(config.ring_timeout_s * 1000),
                caller_id=config.caller_id,
                variables=variables,
            )
            fields = request.fields()
        except ValueError as exc:
            host.tracker.originate_failed(call_id, f"not sent: {exc}")
            return
        log.info("originating", call_id=call_id, campaign=campaign, lead=lead.lead_id, number=mask(lead.number),
                 attempt=lead.attempts + 1)
        port = host.originate_port
        try:
            if port is None:
                raise AmiDisconnected("no AMI client")
            future = port.send_nowait(fields, call_id)
        except AmiDisconnected:
            host.tracker.originate_failed(call_id, "not sent: AMI disconnected")
            return
        future.add_done_callback(functools.partial(self._answered, call))

    def _answered(self, call: TrackedCall, future: asyncio.Future[Message]) -> None:
        """Only a refusal Asterisk put in words we know (ORIGINATE_REFUSALS, permission) ends the
        attempt `failed` (and lets the retry policy dial again). Anything else — an answer we cannot
        read, a timeout, the connection lost — may be a placed call: it stays live, never re-sent,
        and is settled by its events, or by reconciliation once its deadline passes (issue 11)."""
        verdict = judge_future(future, originate_refused)
        if verdict.answer is Answer.REFUSED:
            self._host.tracker.originate_failed(call.call_id, verdict.detail)
            return
        if verdict.answer is Answer.DONE:
            return
        self._host.originate_unconfirmed(call, mask_text(verdict.detail))  # its text may hold the dial string
