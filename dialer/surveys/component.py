"""The survey part of the daemon: passes each survey campaign's questions to the dialplan, stores
every answer the dialplan reports (UserEvent DialerSurveyAnswer) and runs its follow-ups.

An answer is written in a transaction of its own as soon as it arrives (not with the call's next
state change): a call that goes on for minutes, or a daemon killed during it, keeps the answers
given so far. A UserEvent seen twice stores one row (dialer.store.surveys.record). Follow-ups, in
the same transaction: a tag on the contact, a callback through dialer.crm.callbacks (the lead is
due then and meets the gate like any lead). An opt-out mid-survey is the dialplan's DialerOptOut,
handled by the compliance part as for every campaign (DNC before the next claim).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import structlog

from dialer.ami.frames import Message
from dialer.clock import Clock
from dialer.config.models import CampaignConfig
from dialer.crm.callbacks import CallbackRequest, schedule
from dialer.store import Database
from dialer.store import surveys as survey_store
from dialer.store.surveys import AnswerRow
from dialer.surveys.answers import parse_event, read_answer
from dialer.surveys.channel_vars import survey_variables
from dialer.tracker import TrackedCall

if TYPE_CHECKING:
    from dialer.daemon import DaemonContext
    from dialer.engine import Engine
    from dialer.tasks import PartTasks

log = structlog.get_logger("dialer.surveys")

RETRY_AFTER_S = 1.0  # a failed write is tried again this long after (the rows stay queued meanwhile)


class SurveyComponent:
    """Hooks surveys into the engine: channel variables out, answers in (see the module docstring)."""

    name = "surveys"

    def __init__(self, engine: Engine, db: Database, clock: Clock) -> None:
        self._engine = engine
        self._db = db
        self._clock = clock
        self._queued: list[tuple[AnswerRow, str, bool]] = []  # (answer, tag, callback)
        self._wake = asyncio.Event()
        self.stored = 0  # answers written (new rows), for status and tests
        engine.variable_providers.append(self._variables)
        engine.tracker.user_event_hooks.append(self.on_user_event)

    @staticmethod
    def _variables(call: TrackedCall, campaign: CampaignConfig) -> Mapping[str, str]:
        if campaign.mode != "survey" or campaign.survey is None:
            return {}
        return survey_variables(campaign.survey)

    def on_user_event(self, message: Message) -> None:
        """Tracker hook (every UserEvent): queue a DialerSurveyAnswer of a live call of a survey campaign."""
        event = parse_event(message)
        if event is None:
            return
        call = self._engine.tracker.get(event.call_id)
        campaign = self._engine.config.campaigns.get(call.campaign_id) if call is not None else None
        if call is None or campaign is None or campaign.survey is None:
            log.warning("survey_answer_ignored", call_id=event.call_id, question=event.question,
                        why="no live call of a survey campaign")
            return
        answer = read_answer(campaign.survey, event)
        if answer is None:
            log.warning("survey_answer_ignored", call_id=event.call_id, question=event.question,
                        why="no such question in the campaign's survey")
            return
        row = AnswerRow(call.call_id, call.attempt_id, call.lead_id, call.campaign_id, answer.question,
                        answer.position, answer.keys, answer.meaning, answer.status, answer.leads_to,
                        event.at if event.at is not None else self._clock.now())
        self._queued.append((row, answer.tag, answer.callback))
        self._wake.set()

    async def start(self, parts: PartTasks) -> None:
        """Start the writer."""
        parts.spawn(self._run(), "surveys")

    async def stop(self) -> None:
        """Write what is still queued (the writer task is cancelled with the other parts)."""
        if self._queued:
            await self.write_queued()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not await self.write_queued():
                try:  # wait for news or for the retry time, whichever comes first
                    await asyncio.wait_for(self._wake.wait(), RETRY_AFTER_S)
                except TimeoutError:
                    self._wake.set()

    async def write_queued(self) -> bool:
        """Write every queued answer in one transaction; False (rows kept queued) if it failed."""
        batch, self._queued = self._queued, []
        if not batch:
            return True
        policies = {name: c.callbacks.delay_s for name, c in self._engine.config.campaigns.items()}
        now = self._clock.now()
        try:
            async with self._db.write() as tx:
                new = await tx.run(_write, batch, policies, now)
        except sqlite3.Error as exc:
            self._queued = batch + self._queued
            log.warning("survey_answers_not_written", error=str(exc), queued=len(self._queued))
            return False
        self.stored += len(new)
        for row in new:
            log.info("survey_answer", call_id=row.call_id, campaign=row.campaign_id, question=row.question,
                     meaning=row.meaning, status=row.status)
        return True


def _write(conn: sqlite3.Connection, batch: Sequence[tuple[AnswerRow, str, bool]], delays: Mapping[str, float],
           now: float) -> list[AnswerRow]:
    """On the database thread: the answers, then the follow-ups of the ones that were new."""
    follow = {(row.call_id, row.question): (tag, callback) for row, tag, callback in batch}
    new = survey_store.record(conn, [row for row, _, _ in batch])
    for row in new:
        tag, callback = follow[(row.call_id, row.question)]
        if tag:
            contact_id = survey_store.contact_of_lead(conn, row.lead_id)
            if contact_id is not None:
                survey_store.add_tag(conn, contact_id, tag, f"survey:{row.campaign_id}", now)
        if callback:
            due = row.answered_at + delays.get(row.campaign_id, 3600.0)
            schedule(conn, CallbackRequest(row.lead_id, due, "dialplan", "callee", row.call_id), now)
    return new


def survey_component(context: DaemonContext) -> SurveyComponent:
    """Daemon component factory (always on: nothing happens until a survey campaign dials)."""
    return SurveyComponent(context.engine, context.db, context.clock)
