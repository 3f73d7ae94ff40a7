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
import time
from collections import deque
from collections.abc import Awaitable

import aiomqtt
import structlog

from dialer.clock import Clock
from dialer.mqtt.config import MqttConfig
from dialer.mqtt.connection import publish_acknowledged
from dialer.mqtt.outbox import OutboxRow, fetch_unpublished, mark_published
from dialer.store import Database
from dialer.tasks import cancel_and_wait

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
        buffer: deque[OutboxRow] = deque()  # read from the table, not yet handed to the client
        window: deque[tuple[int, float, asyncio.Task[None]]] = deque()  # (row id, sent at, publish)
        acked = _Acked()
        after = 0
        exhausted = False
        qos = self.config.qos
        batch = self.config.outbox.batch
        # At most paho's own in-flight limit: more would only queue inside paho, whose queue handling
        # (and aiomqtt's pending-call bookkeeping, see connection.py) costs time that grows with the queue.
        inflight = self.config.outbox.inflight
        ack_timeout = self.config.ack_timeout_s
        try:
            while True:
                if not buffer and (not exhausted or self._wake.is_set()):
                    self._wake.clear()  # before reading: a commit after this read wakes us again
                    async with self.db.read() as tx:
                        rows = await fetch_unpublished(tx, after, batch)
                    exhausted = len(rows) < batch
                    if rows:
                        buffer.extend(rows)
                        after = rows[-1].id
                while buffer and len(window) < inflight:
                    row = buffer.popleft()
                    # Tasks start in creation order, so paho queues the PUBLISH packets in id order.
                    # No per-message timeout: the head's age is checked below.
                    publish = publish_acknowledged(client, row.topic, row.payload, qos)
                    window.append((row.id, time.monotonic(), asyncio.create_task(publish)))
                if not window:
                    await self._mark(acked)
                    self.caught_up.set()
                    if stopping.is_set():
                        return
                    await _first(self._wake.wait(), stopping.wait())
                    continue
                self.caught_up.clear()
                head_id, sent_at, head = window[0]
                left = sent_at + ack_timeout - time.monotonic()
                if not buffer and exhausted and not self._wake.is_set():
                    await _first(head, self._wake.wait(), timeout=max(left, 0.0))
                else:
                    await asyncio.wait({head}, timeout=max(left, 0.0))
                if not head.done() and time.monotonic() >= sent_at + ack_timeout:
                    raise aiomqtt.MqttError(f"no acknowledgement for outbox row {head_id} within {ack_timeout} s")
                while window and window[0][2].done():
                    row_id, _, task = window.popleft()
                    task.result()  # a failed publish raises: the session ends and reconnects
                    acked.add(row_id)
                if acked.count >= MARK_EVERY or not window:
                    await self._mark(acked)
        finally:
            # Publishes that failed with the connection are done already: take their exceptions, or
            # asyncio prints each one as a traceback when it is collected.
            failed = await cancel_and_wait([task for _, _, task in window], "mqtt_publish_failed", level="debug")
            if failed:
                log.info("mqtt_publishes_unacknowledged", count=failed, note="sent again on the next connection")
            # Rows the broker acknowledged are published, even if the connection died since.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._mark(acked))

    async def _mark(self, acked: _Acked) -> None:
        if not acked.count:
            return
        first, last, count = acked.first, acked.last, acked.count
        acked.clear()
        async with self.db.write() as tx:
            await mark_published(tx, first, last, self.clock.now())
        self.published += count


class _Acked:
    """The acknowledged rows not yet marked: always the next ids in table order, so a range."""

    def __init__(self) -> None:
        self.first = 0
        self.last = 0
        self.count = 0

    def add(self, row_id: int) -> None:
        if not self.count:
            self.first = row_id
        self.last = row_id
        self.count += 1

    def clear(self) -> None:
        self.count = 0


async def _first(*awaitables: Awaitable[object], timeout: float | None = None) -> None:
    """Wait until the first of these completes (or the timeout); cancel the helper tasks made here."""
    futures = [asyncio.ensure_future(item) for item in awaitables]
    made = [f for f, item in zip(futures, awaitables, strict=True) if f is not item]
    try:
        await asyncio.wait(futures, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in made:
            if not future.done():
                future.cancel()
