"""A task of the MQTT session that fails is logged through structlog (masked) when it fails, never left
for asyncio to print as a raw traceback on stderr when it is garbage-collected; a session that ends
leaves none of its tasks running."""

from __future__ import annotations

import asyncio
import gc

import aiomqtt
from structlog.testing import capture_logs

from dialer.mqtt.publisher import OutboxPublisher
from tests.mqtt.conftest import WAIT_S, mqtt_config, mqtt_of, running_daemon


def _alive(name: str) -> int:
    return sum(1 for task in asyncio.all_tasks() if task.get_name() == name and not task.done())


async def test_a_session_whose_publisher_fails_leaves_no_task_behind_and_no_exception_unretrieved(
        tmp_path, sim, broker, monkeypatch):
    original = OutboxPublisher.run
    calls = []

    async def fails_once(self: OutboxPublisher, client: aiomqtt.Client, stopping: asyncio.Event) -> None:
        calls.append(client)
        if len(calls) == 1:
            raise RuntimeError("publisher failed while sending to +14155550140")
        await original(self, client, stopping)

    monkeypatch.setattr(OutboxPublisher, "run", fails_once)
    config = mqtt_config(tmp_path, sim, broker)
    with capture_logs() as logs:
        async with running_daemon(config) as daemon:
            connection = mqtt_of(daemon).connection
            async with asyncio.timeout(WAIT_S):
                while connection.connections < 2 or len(calls) < 2:
                    await asyncio.sleep(0.01)
            # The first session's stats task went with it: one of each, the second session's.
            assert (_alive("mqtt-stats"), _alive("mqtt-publisher")) == (1, 1)
        gc.collect()  # what asyncio would report as "Task exception was never retrieved"
    assert not [e for e in logs if e["event"] == "asyncio_exception"], logs
    assert [e for e in logs if e["event"] == "mqtt_session_failed"]  # the failure, logged (and masked) once
    assert (_alive("mqtt-stats"), _alive("mqtt-publisher")) == (0, 0)
