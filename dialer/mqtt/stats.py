"""Retained `campaigns/<id>/stats`: published when a campaign changed, at most every `stats_interval_s`.

Stats are a snapshot, not events: they go straight to the broker (retained) instead of through the
outbox, and after every reconnect each campaign's snapshot is published afresh, so nothing is lost
by skipping the ones that fell into an outage. The queries use the (campaign, status) and
(campaign, ended_at) indexes: cost grows with a campaign's leads and its calls of the last day,
never with the whole history.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping

import aiomqtt

from dialer.clock import Clock
from dialer.mqtt.outbox import Topics
from dialer.mqtt.payloads import CampaignStatsPayload, new_event_id
from dialer.outcome import LIVE_ANSWER, Disposition
from dialer.store import Database, Tx
from dialer.store import campaigns as campaign_store
from dialer.store import reports as report_store

WINDOW_S = 24 * 3600.0
_ANSWERED = frozenset({*(d.value for d in LIVE_ANSWER), Disposition.MACHINE.value})
_LIVE_ANSWER = frozenset(d.value for d in LIVE_ANSWER)


async def campaign_stats(tx: Tx, campaign: str, now: float, live_calls: int, node: str) -> CampaignStatsPayload:
    """The stats of one campaign now."""
    state = await campaign_store.campaign_state(tx, campaign)
    leads = await report_store.leads_by_status(tx, campaign)
    ended = await report_store.ended_since(tx, campaign, now - WINDOW_S)
    by_disposition = ended.by_disposition
    total = sum(by_disposition.values())
    answered = sum(n for d, n in by_disposition.items() if d in _ANSWERED)
    live_answered = sum(n for d, n in by_disposition.items() if d in _LIVE_ANSWER)
    abandoned = by_disposition.get(Disposition.ABANDONED.value, 0)
    return CampaignStatsPayload(
        event_id=new_event_id(), node=node, at=now, campaign=campaign,
        state=state.value if state is not None else "unknown",
        live_calls=live_calls,
        leads=leads,
        window_s=WINDOW_S, ended=total, by_disposition=by_disposition,
        answer_rate=round(answered / total, 4) if total else None,
        abandon_rate=round(abandoned / live_answered, 4) if live_answered else None,
        talk_s_total=round(ended.talk_s_total, 2),
    )


class StatsPublisher:
    """Publishes the stats of campaigns marked changed (`touch`), at most every `interval_s`."""

    def __init__(
        self,
        db: Database,
        topics: Topics,
        node: str,
        clock: Clock,
        *,
        qos: int,
        interval_s: float,
        campaigns: Callable[[], Iterable[str]],
        live_calls: Callable[[], Mapping[str, int]],
    ) -> None:
        self.db = db
        self.topics = topics
        self.node = node
        self.clock = clock
        self.qos = qos
        self.interval_s = interval_s
        self._campaigns = campaigns
        self._live_calls = live_calls
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self.published = 0

    def touch(self, campaigns: Iterable[str]) -> None:
        """These campaigns changed: publish their stats at the next turn."""
        before = len(self._dirty)
        self._dirty.update(campaigns)
        if len(self._dirty) != before:
            self._wake.set()

    async def run(self, client: aiomqtt.Client, stopping: asyncio.Event) -> None:
        """Publish every campaign once (retained values may be stale after an outage), then on change."""
        async with self.db.read() as tx:
            known = await campaign_store.campaign_ids(tx)
        self.touch([*known, *self._campaigns()])
        while not stopping.is_set():
            if not self._dirty:
                self._wake.clear()
                await _either(self._wake, stopping)
                continue
            await self.publish_now(client)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.interval_s)

    async def publish_now(self, client: aiomqtt.Client) -> None:
        """Publish the stats of every changed campaign."""
        names, self._dirty = sorted(self._dirty), set()
        try:
            live = self._live_calls()
            now = self.clock.now()
            async with self.db.read() as tx:
                payloads = [await campaign_stats(tx, name, now, live.get(name, 0), self.node) for name in names]
            for payload in payloads:
                await client.publish(self.topics.campaign_stats(payload.campaign), payload.model_dump_json(),
                                     qos=self.qos, retain=True)
                self.published += 1
        except BaseException:
            self._dirty.update(names)  # publish them on the next connection
            raise


async def _either(first: asyncio.Event, second: asyncio.Event) -> None:
    tasks = [asyncio.create_task(first.wait()), asyncio.create_task(second.wait())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
