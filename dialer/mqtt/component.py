"""The MQTT daemon component: wires the outbox into the engine and keeps the broker session going.

Dialing never waits for the broker: the engine only writes outbox rows inside its own transactions
(tx hook) and pokes the publisher after the commit (event hook); everything that talks to the broker
runs in this component's own tasks. The daemon starts it before the AMI login and stops it after
dialing drained, so the last call's `ended` message is in the outbox before the stop begins.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import aiomqtt
import structlog
from paho.mqtt.reasoncodes import ReasonCode

import dialer
from dialer.alerts import Alert
from dialer.events import CallEvent
from dialer.mqtt.commands import CommandContext, CommandHandler, parse_sender
from dialer.mqtt.config import MqttConfig
from dialer.mqtt.connection import Connection, Will, broker_identity
from dialer.mqtt.outbox import OutboxWriter, Topics, backlog, insert_rows, prune_step
from dialer.mqtt.payloads import StatusPayload, new_event_id
from dialer.mqtt.publisher import OutboxPublisher
from dialer.mqtt.stats import StatsPublisher
from dialer.tasks import PartTasks, cancel_and_wait, retrieve

if TYPE_CHECKING:
    from dialer.daemon import DaemonContext

log = structlog.get_logger("dialer.mqtt")

ALERT_QUEUE = 1000  # alerts waiting for their outbox write; beyond it the oldest are only logged


def mqtt_component(context: DaemonContext) -> MqttComponent | None:
    """Daemon component factory: None unless `mqtt.enabled`."""
    if not context.config.mqtt.enabled:
        return None
    return MqttComponent(context)


class MqttComponent:
    """Outbox writer + publisher + stats + command listener over one reconnecting broker connection."""

    name = "mqtt"

    def __init__(self, context: DaemonContext) -> None:
        self.context = context
        self.config: MqttConfig = context.config.mqtt
        self.node = context.config.node.name
        self.engine = context.engine
        self.db = context.db
        self.clock = context.clock
        self.topics = Topics(self.config.topic_prefix(self.node))
        self.started_at = self.clock.now()
        self.writer = OutboxWriter(self.topics, self.node, include_numbers=self.config.include_numbers)
        self.publisher = OutboxPublisher(self.db, self.config, self.clock)
        self.stats = StatsPublisher(
            self.db, self.topics, self.node, self.clock, qos=self.config.qos,
            interval_s=self.config.stats_interval_s,
            campaigns=lambda: self.engine.config.campaigns.keys(),
            live_calls=self.engine.tracker.live_by_campaign,
        )
        self.connection = Connection(self.config, self.config.identifier(self.node), self._will,
                                     on_message=self._on_message, on_down=self._on_down)
        self.commands = CommandHandler(CommandContext(
            db=self.db, engine=self.engine, clock=self.clock, node=self.node, started_at=self.started_at,
            backlog=self.backlog, connected=self.connection.connected.is_set,
            campaign_changed=self._campaign_changed, config=lambda: self.config,
        ))
        self.via = broker_identity(self.config)
        self.command_topics: tuple[str, ...] = ()  # what the current session subscribed to
        self.session_ready = asyncio.Event()  # set once a session has its subscriptions (cleared at its end)
        self._alerts: deque[Alert] = deque()
        self._alerts_lost = 0
        self._alert_wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._backlog_warned = False

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, parts: PartTasks) -> None:
        """Hook into the engine and start the background tasks; never waits for the broker."""
        self.engine.tx_hooks.append(self.writer)
        self.engine.event_hooks.append(self._on_events)
        self.engine.alert_hooks.append(self._on_alert)
        self._tasks = [
            parts.spawn(self.connection.run(self._session, self._stopping), "mqtt-connection"),
            parts.spawn(self._write_alerts(), "mqtt-alerts"),
            parts.spawn(self._maintain(), "mqtt-outbox-maintenance"),
        ]
        for warning in self.config.warnings():
            log.warning("mqtt_config_warning", warning=warning)
        log.info("mqtt_starting", broker=self.connection.address, prefix=self.topics.prefix,
                 tls=self.config.tls.enabled, commands=self.config.commands_accepted, via=self.via)

    async def stop(self) -> None:
        """Write pending alerts, publish what the outbox holds (up to `outbox.stop_timeout_s`), say offline."""
        connection, alerts, maintenance = self._tasks
        self._alert_wake.set()
        self._stopping.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(alerts, 2.0)
        self.publisher.wake()
        # The session bounds its own final drain; the margin covers the offline message and DISCONNECT.
        await asyncio.wait({connection}, timeout=self.config.outbox.stop_timeout_s + 5.0)
        for task in (connection, maintenance, alerts):
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(ValueError):
            self.engine.tx_hooks.remove(self.writer)
        with contextlib.suppress(ValueError):
            self.engine.event_hooks.remove(self._on_events)
        with contextlib.suppress(ValueError):
            self.engine.alert_hooks.remove(self._on_alert)
        with contextlib.suppress(Exception):
            await self.commands.flush_audit()
        left = await self.backlog()
        log.info("mqtt_stopped", published=self.publisher.published, left_in_outbox=left,
                 note="published at the next start" if left else None)

    async def backlog(self) -> int:
        """Rows waiting in the outbox."""
        async with self.db.read() as tx:
            return await backlog(tx)

    # -- engine hooks (event loop) ------------------------------------------------------------

    def _on_events(self, events: Sequence[CallEvent]) -> None:
        self.publisher.wake()
        self.stats.touch({event.campaign for event in events})

    def _on_alert(self, alert: Alert) -> None:
        if len(self._alerts) >= ALERT_QUEUE:
            self._alerts.popleft()
            self._alerts_lost += 1
        self._alerts.append(alert)
        self._alert_wake.set()

    def _campaign_changed(self, campaign: str) -> None:
        self.engine.campaigns_changed()
        self.stats.touch([campaign])

    def _on_down(self, reason: str, refused: bool) -> None:
        kind = "mqtt_login_refused" if refused else "mqtt_down"
        self.engine.alert(kind, f"MQTT broker {self.connection.address}: {reason}", broker=self.connection.address)

    # -- the broker session ---------------------------------------------------------------------

    def _status(self, state: Literal["online", "offline"], reason: str | None = None) -> bytes:
        payload = StatusPayload(event_id=new_event_id(), node=self.node, at=self.clock.now(), state=state,
                                version=dialer.__version__, started_at=self.started_at, reason=reason)
        return payload.model_dump_json().encode()

    def _will(self) -> Will:
        return Will(self.topics.status, self._status("offline", "connection lost"), self.config.qos)

    async def _session(self, client: aiomqtt.Client) -> None:
        qos = self.config.qos
        await client.publish(self.topics.status, self._status("online"), qos=qos, retain=True)
        self.command_topics = ()
        if self.config.commands_accepted:
            topics = self.topics.commands
            subscriptions: list[tuple[str, int]] = [(topic, qos) for topic in topics]
            granted = await client.subscribe(subscriptions)
            self.command_topics = topics
            if any((code.value if isinstance(code, ReasonCode) else code) >= 0x80 for code in granted):
                # Events still flow; only commands are off. Usually the broker's ACL (config/mosquitto/).
                log.error("mqtt_commands_refused", topic=self.topics.commands, broker=self.connection.address,
                          note="the broker refused the subscription; check its ACL for this user")
        elif self.config.commands:
            # Not even subscribed: nothing from an anonymous connection is read as a command.
            log.error("mqtt_commands_refused", broker=self.connection.address, reason=self.config.warnings()[0])
        publish = asyncio.create_task(self.publisher.run(client, self._stopping), name="mqtt-publisher")
        stats = asyncio.create_task(self.stats.run(client, self._stopping), name="mqtt-stats")
        self.session_ready.set()
        try:
            await self._until_stopping(publish, stats)
            # Stopping: the last events are in the outbox; give them a bounded time to leave.
            done, _ = await asyncio.wait({publish}, timeout=self.config.outbox.stop_timeout_s)
            if publish in done:
                publish.result()
            await asyncio.wait({stats}, timeout=1.0)
            await self.stats.publish_now(client)
            await client.publish(self.topics.status, self._status("offline", "stopped"), qos=qos, retain=True)
        except sqlite3.Error as exc:
            self.engine.alert("storage_error", f"MQTT outbox: {exc}")
            raise
        finally:
            self.session_ready.clear()
            # Whatever ended the session, neither task may leave an exception for asyncio to print.
            # The failure that ended the session is raised, and logged by the connection loop.
            await cancel_and_wait((publish, stats), "mqtt_task_failed", level="debug")

    async def _until_stopping(self, *tasks: asyncio.Task[None]) -> None:
        stop = asyncio.create_task(self._stopping.wait())
        try:
            done, _ = await asyncio.wait({stop, *tasks}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        failed = [task for task in tasks if task in done and not task.cancelled() and task.exception() is not None]
        if failed:
            retrieve(failed[1:], "mqtt_task_failed")
            failed[0].result()  # a failure ends the session (reconnect)

    async def _on_message(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        parsed = self.topics.command(message.topic.value)
        if parsed is None or not self.command_topics:
            return
        verb, level = parsed
        sender = parse_sender(level, self.via, self.config.authenticated)
        if isinstance(sender, str):
            log.warning("mqtt_command_ignored", reason=sender)
            return
        payload = message.payload if isinstance(message.payload, bytes) else str(message.payload or "").encode()
        request_id, reply = await self.commands.handle(verb, payload, sender)
        await client.publish(self.topics.reply(request_id), reply.model_dump_json(), qos=self.config.qos)

    # -- alerts and outbox upkeep ------------------------------------------------------------

    async def _write_alerts(self) -> None:
        while True:
            if not self._alerts:
                if self._stopping.is_set():
                    return
                self._alert_wake.clear()
                await self._alert_wake.wait()
                continue
            alerts = list(self._alerts)
            try:
                async with self.db.write() as tx:
                    await tx.run(insert_rows, self.writer.alert_rows(alerts))
            except sqlite3.Error as exc:
                # The alerts were logged when raised; keep them for another try, and do not raise an
                # alert about failing to store alerts (it would queue behind the same failure).
                log.error("mqtt_alert_write_failed", error=str(exc), waiting=len(self._alerts))
                if self._stopping.is_set():
                    return
                await asyncio.sleep(1.0)
                continue
            for _ in alerts:
                self._alerts.popleft()
            if self._alerts_lost:
                log.warning("mqtt_alerts_dropped", count=self._alerts_lost, note="logged, not published")
                self._alerts_lost = 0
            self.publisher.wake()

    async def _maintain(self) -> None:
        outbox = self.config.outbox
        while not self._stopping.is_set():
            try:
                await self._prune_once()
            except sqlite3.Error as exc:
                self.engine.alert("storage_error", f"MQTT outbox upkeep failed: {exc}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), outbox.prune_interval_s)

    async def _prune_once(self) -> None:
        outbox = self.config.outbox
        deleted = dropped = 0
        while True:
            async with self.db.write() as tx:
                result = await tx.run(prune_step, self.clock.now(), outbox.retention_s, outbox.max_rows)
            deleted += result.deleted_published
            dropped += result.dropped_unpublished
            if not result.more:
                break
            await asyncio.sleep(0)  # let the engine's transactions in between steps
        if deleted:
            log.debug("mqtt_outbox_pruned", deleted=deleted)
        if dropped:
            self.engine.alert("outbox_overflow",
                              f"MQTT outbox over {outbox.max_rows} rows: the {dropped} oldest unpublished events "
                              "were dropped (broker unreachable too long?)", dropped=dropped, limit=outbox.max_rows)
        waiting = await self.backlog()
        if waiting > outbox.warn_rows and not self._backlog_warned:
            self._backlog_warned = True
            self.engine.alert("outbox_backlog",
                              f"{waiting} MQTT events wait in the outbox (warning at {outbox.warn_rows}, "
                              f"limit {outbox.max_rows})", waiting=waiting, limit=outbox.max_rows)
        elif waiting <= outbox.warn_rows // 2:
            self._backlog_warned = False

