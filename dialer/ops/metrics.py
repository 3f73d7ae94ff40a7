"""Prometheus metrics: what the dialer does, on an HTTP endpoint (off by default, 127.0.0.1 when on).

The metric objects live in prometheus_client's default registry (with its process and platform
collectors), so any module can add to them: the recordings archiver sets `RECORDINGS_MISSING` from
the recordings rows (at its start, after each batch of results, after a purge).
Values come from the engine's hooks (call events, alerts) and from a refresh task on the event
loop (live calls, AMI state, outbox backlog, gate blocks from the audit table), so the HTTP thread
only ever reads metric values and never touches the engine or the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import Counter, Gauge, Histogram, start_http_server

from dialer.alerts import Alert
from dialer.events import CallEvent
from dialer.ops.config import MetricsConfig
from dialer.store import audit as audit_store
from dialer.tasks import PartTasks
from dialer.tracker import CallState

if TYPE_CHECKING:
    from dialer.daemon import DaemonContext
    from dialer.engine import Engine
    from dialer.store import Database

log = structlog.get_logger("dialer.ops.metrics")

CALLS = Counter("dialer_calls", "Calls that reached their final outcome, by campaign and disposition",
                ["campaign", "disposition"])
ORIGINATIONS = Counter("dialer_originations", "Calls originated (attempt committed, Originate sent), by campaign",
                       ["campaign"])
TEXTS = Counter("dialer_texts", "Text messages that reached their outcome (accepted, failed, ...), by campaign",
                ["campaign", "outcome"])
LIVE_CALLS = Gauge("dialer_live_calls", "Calls live now, by campaign", ["campaign"])
ANSWER_LATENCY = Histogram(
    "dialer_originate_to_answer_seconds", "Seconds from the Originate to the callee answering",
    buckets=(0.5, 1, 2, 3, 5, 8, 10, 15, 20, 30, 45, 60, 90),
)
GATE_BLOCKS = Counter("dialer_gate_blocks", "Compliance gate decisions that blocked a lead, by rule", ["rule"])
AMI_RECONNECTS = Counter("dialer_ami_reconnects", "AMI sessions lost (each followed by a reconnect)")
AMI_CONNECTED = Gauge("dialer_ami_connected", "1 while logged in to the Asterisk manager interface")
DRAINING = Gauge("dialer_draining", "1 while the daemon drains before it stops")
OUTBOX_BACKLOG = Gauge("dialer_outbox_backlog", "Outbox rows not yet published (MQTT)")
ALERTS = Counter("dialer_alerts", "Alerts raised, by kind", ["kind"])
RECORDINGS_MISSING = Gauge(
    "dialer_recordings_missing",
    "Answered calls whose recording is missing or failed its check (set by the recordings module)",
)

FAST_REFRESH_S = 1.0  # in-memory values: live calls, AMI state
SLOW_REFRESH_S = 5.0  # database counts: outbox backlog, gate blocks


def set_recordings_missing(count: int) -> None:
    """For the recordings module: how many recordings are missing now."""
    RECORDINGS_MISSING.set(count)


class MetricsServer:
    """The daemon component: hooks into the engine and serves /metrics."""

    name = "metrics"

    def __init__(self, config: MetricsConfig, engine: Engine, db: Database) -> None:
        self.config = config
        self.engine = engine
        self.db = db
        self.port: int | None = None
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._audit_seen = 0
        self._campaigns: set[str] = set()

    async def start(self, parts: PartTasks) -> None:
        """Hook into the engine, then listen (a port in use raises an alert; dialing goes on)."""
        self.engine.event_hooks.append(self.on_events)
        self.engine.alert_hooks.append(self.on_alert)
        async with self.db.read() as tx:
            self._audit_seen = await audit_store.last_id(tx)
        try:
            self._server, self._thread = start_http_server(self.config.port, self.config.address)
        except OSError as exc:
            self.engine.alert("metrics_unavailable",
                              f"metrics endpoint {self.config.address}:{self.config.port}: {exc.strerror or exc}")
        else:
            self.port = int(self._server.server_address[1])
            log.info("metrics_listening", address=self.config.address, port=self.port)
        self._task = parts.spawn(self._refresh(), "metrics-refresh")

    async def stop(self) -> None:
        """Stop refreshing and serving."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # a failure was logged (tasks.background)
                await task
        server, self._server = self._server, None
        if server is not None:
            # shutdown() waits for the serving thread's loop to end: not on the event loop.
            await asyncio.to_thread(server.shutdown)
            server.server_close()
        with contextlib.suppress(ValueError):
            self.engine.event_hooks.remove(self.on_events)
        with contextlib.suppress(ValueError):
            self.engine.alert_hooks.remove(self.on_alert)

    # -- hooks (event loop) -------------------------------------------------------------------------

    def on_events(self, events: Sequence[CallEvent]) -> None:
        """Count originations, answers and final outcomes (text messages apart from calls)."""
        for event in events:
            if event.medium != "call":
                if event.final and event.disposition is not None:
                    TEXTS.labels(event.campaign, event.disposition.value).inc()
                continue
            if event.state is CallState.ORIGINATING:
                ORIGINATIONS.labels(event.campaign).inc()
            elif event.state is CallState.ANSWERED and event.answered_at is not None:
                ANSWER_LATENCY.observe(max(0.0, event.answered_at - event.originated_at))
            elif event.final and event.disposition is not None:
                CALLS.labels(event.campaign, event.disposition.value).inc()

    def on_alert(self, alert: Alert) -> None:
        """Count alerts; a lost AMI session is a reconnect."""
        ALERTS.labels(alert.kind).inc()
        if alert.kind == "ami_down":
            AMI_RECONNECTS.inc()

    # -- refresh (event loop) -----------------------------------------------------------------------

    async def _refresh(self) -> None:
        slow_every = max(1, round(SLOW_REFRESH_S / FAST_REFRESH_S))
        turn = 0
        while True:
            self.refresh_live()
            if turn % slow_every == 0:
                try:
                    await self.refresh_store()
                except Exception as exc:  # a locked or failing store must not stop the metrics
                    log.warning("metrics_refresh_failed", error=str(exc))
            turn += 1
            await asyncio.sleep(FAST_REFRESH_S)

    def refresh_live(self) -> None:
        """Live calls per campaign, AMI state, draining."""
        live = self.engine.tracker.live_by_campaign()
        self._campaigns |= set(live) | set(self.engine.config.campaigns)
        for campaign in self._campaigns:
            LIVE_CALLS.labels(campaign).set(live.get(campaign, 0))
        ami = self.engine.ami
        AMI_CONNECTED.set(1 if ami is not None and ami.connected else 0)
        DRAINING.set(1 if self.engine.draining else 0)

    async def refresh_store(self) -> None:
        """Outbox backlog, and gate blocks written since the last look (the audit table is the record)."""
        async with self.db.read() as tx:
            backlog = await tx.fetchone("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
            top = await audit_store.last_id(tx)
            blocks = await audit_store.gate_blocks_between(tx, self._audit_seen, top)
        OUTBOX_BACKLOG.set(int(backlog[0]) if backlog else 0)
        for rule, count in blocks.items():
            GATE_BLOCKS.labels(rule or "unknown").inc(count)
        self._audit_seen = max(self._audit_seen, top)


def metrics_component(context: DaemonContext) -> MetricsServer | None:
    """The daemon's `metrics` component, or None when `[metrics] enabled` is false."""
    config: MetricsConfig = context.config.metrics
    if not config.enabled:
        return None
    return MetricsServer(config, context.engine, context.db)
