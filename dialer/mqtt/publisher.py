"""The outbox publisher: drains unpublished rows to the broker in id order and marks each row
published only after the broker acknowledged it (PUBACK for QoS 1, PUBCOMP for QoS 2).

Memory stays bounded whatever the backlog: rows are read in batches of `outbox.batch`, and at most
one batch of publishes is pending at once (paho itself sends `outbox.inflight` of them at a time).
After a reconnect it starts again from the oldest unpublished row, so a row whose acknowledgement
was lost is sent again with the same event id: subscribers may see a duplicate, never a gap, and a
call's messages never overtake each other.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable

import aiomqtt
import structlog

from dialer.clock import Clock
from dialer.mqtt.config import MqttConfig
from dialer.mqtt.outbox import fetch_unpublished, mark_published
from dialer.store import Database

log = structlog.get_logger("dialer.mqtt.publisher")

MARK_EVERY = 200  # acknowledged rows marked per transaction while busy (fewer write transactions)


class OutboxPublisher:
    """Publishes the outbox over whichever connection is current; `wake()` after rows are committed."""

    def __init__(self, db: Database, config: MqttConfig, clock: Clock) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self.published = 0  # rows acknowledged since start
        self.caught_up = asyncio.Event()  # nothing waiting and nothing in flight (as of the last look)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """New rows were committed (called on the event loop after the commit)."""
        self._wake.set()

    async def run(self, client: aiomqtt.Client, stopping: asyncio.Event) -> None:
        """Publish until `stopping` is set and everything is acknowledged; raises if the broker fails."""
        window: deque[tuple[int, asyncio.Task[None]]] = deque()
        acked: list[int] = []
        after = 0
        exhausted = False
        qos = self.config.qos
        limit = self.config.outbox.batch
        timeout = self.config.ack_timeout_s
        try:
            while True:
                if len(window) < limit and (not exhausted or self._wake.is_set()):
                    self._wake.clear()  # before reading: a commit after this read wakes us again
                    async with self.db.read() as tx:
                        rows = await fetch_unpublished(tx, after, limit - len(window))
                    exhausted = len(rows) < limit - len(window)
                    for row in rows:
                        # Tasks start in creation order, so paho queues the PUBLISH packets in id order.
                        publish = client.publish(row.topic, row.payload, qos=qos, timeout=timeout)
                        window.append((row.id, asyncio.create_task(publish)))
                        after = row.id
                    if rows:
                        self.caught_up.clear()
                        continue
                if not window:
                    await self._mark(acked)
                    self.caught_up.set()
                    if stopping.is_set():
                        return
                    await _first(self._wake.wait(), stopping.wait())
                    continue
                head = window[0][1]
                if exhausted and not self._wake.is_set():
                    await _first(head, self._wake.wait())
                else:
                    await asyncio.wait({head})
                while window and window[0][1].done():
                    row_id, task = window.popleft()
                    task.result()  # a failed publish raises: the session ends and reconnects
                    acked.append(row_id)
                if len(acked) >= MARK_EVERY or not window:
                    await self._mark(acked)
        finally:
            for _, task in window:
                task.cancel()
            # Rows the broker acknowledged are published, even if the connection died since.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._mark(acked))

    async def _mark(self, acked: list[int]) -> None:
        if not acked:
            return
        ids = list(acked)
        acked.clear()
        async with self.db.write() as tx:
            await mark_published(tx, ids, self.clock.now())
        self.published += len(ids)


async def _first(*awaitables: Awaitable[object]) -> None:
    """Wait until the first of these completes; cancel the helper tasks made for the others."""
    futures = [asyncio.ensure_future(item) for item in awaitables]
    made = [f for f, item in zip(futures, awaitables, strict=True) if f is not item]
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in made:
            if not future.done():
                future.cancel()
