"""MQTT fixtures: a real broker process per test, a real subscriber, an operator that sends commands."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from pydantic import SecretStr

from dialer.config import Config
from dialer.daemon import Daemon
from dialer.mqtt.component import MqttComponent
from dialer.sim import SimServer
from tests.e2e import conftest as e2e
from tests.e2e.conftest import make_config
from tests.mqtt.broker import Broker

WAIT_S = 20.0  # generous: conditions are awaited, never timed
sim = e2e.sim  # the simulator fixture (AMI over TCP), shared with the e2e tests


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    server = Broker(tmp_path / "broker").start()
    try:
        yield server
    finally:
        server.stop()


def mqtt_config(tmp_path: Path, sim: SimServer, broker: Broker, *, secret: str | None = None,
                campaign: dict[str, Any] | None = None, **mqtt: Any) -> Config:
    """The e2e config with MQTT on, pointing at `broker`, with short timings (and `secret` resolved)."""
    section: dict[str, Any] = {
        "enabled": True, "host": broker.host, "port": broker.port, "reconnect_initial_s": 0.05,
        "reconnect_max_s": 0.3, "stats_interval_s": 0.2, "keepalive_s": 5,
        "outbox": {"prune_interval_s": 0.5, "stop_timeout_s": 10.0},
    }
    outbox = mqtt.pop("outbox", {})
    section.update(mqtt)
    section["outbox"].update(outbox)
    config = make_config(tmp_path, sim, campaign=campaign, extra={"mqtt": section})
    if secret is not None:
        config = config.model_copy(update={"mqtt": config.mqtt.model_copy(update={"secret": SecretStr(secret)})})
    return config


@dataclass(frozen=True, slots=True)
class Received:
    """One message as a subscriber saw it."""

    topic: str
    payload: bytes
    retain: bool

    @property
    def data(self) -> dict[str, Any]:
        """The JSON payload."""
        value: dict[str, Any] = json.loads(self.payload)
        return value


class Watcher:
    """A real subscriber on `topic` that reconnects after broker restarts and keeps every message."""

    def __init__(self, broker: Broker, topic: str = "dialer/#", *, username: str | None = None,
                 password: str | None = None) -> None:
        self.broker = broker
        self.topic = topic
        self.username = username
        self.password = password
        self.messages: list[Received] = []
        self.subscribed = asyncio.Event()
        self.subscriptions = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watcher:
        self._task = asyncio.create_task(self._run())
        await self.wait_for(self.subscribed.is_set)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(self.broker.host, self.broker.port, username=self.username,
                                          password=self.password, identifier=f"watcher-{uuid.uuid4().hex[:8]}",
                                          keepalive=5, timeout=2) as client:
                    await client.subscribe(self.topic, qos=1)
                    self.subscriptions += 1
                    self.subscribed.set()
                    self._poke()
                    async for message in client.messages:
                        payload = message.payload if isinstance(message.payload, bytes) else b""
                        self.messages.append(Received(message.topic.value, payload, bool(message.retain)))
                        self._poke()
            except aiomqtt.MqttError:
                self.subscribed.clear()
                await asyncio.sleep(0.02)

    def _poke(self) -> None:
        self._changed.set()

    async def wait_for(self, condition: Callable[[], bool], timeout: float = WAIT_S) -> None:
        """Wait until `condition()` holds (checked on every message); fail after a generous timeout."""
        async def loop() -> None:
            while not condition():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)

        try:
            await asyncio.wait_for(loop(), timeout)
        except TimeoutError:
            raise AssertionError(f"condition not met; {len(self.messages)} messages so far") from None

    def on(self, suffix: str) -> list[Received]:
        """Messages whose topic ends with `suffix`."""
        return [m for m in self.messages if m.topic.endswith(suffix)]

    def calls(self) -> dict[str, list[dict[str, Any]]]:
        """Call messages by call id, in arrival order."""
        out: dict[str, list[dict[str, Any]]] = {}
        for message in self.messages:
            if "/calls/" in message.topic:
                data = message.data
                out.setdefault(data["call_id"], []).append(data)
        return out


async def send_command(broker: Broker, verb: str, payload: bytes | dict[str, Any], *, request_id: str,
                       prefix: str = "dialer/test/", username: str | None = None,
                       password: str | None = None, sender: str | None = None,
                       before: Sequence[tuple[str, bytes]] = ()) -> dict[str, Any]:
    """Publish `cmd/<verb>` (or `cmd/<verb>/<sender>`) as an operator and return the reply from
    `reply/<request_id>`. `before`: (topic suffix, payload) published first on the same connection
    (a broker keeps one client's messages in order, so the dialer sees them before this one)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    async with aiomqtt.Client(broker.host, broker.port, username=username, password=password,
                              identifier=f"operator-{uuid.uuid4().hex[:8]}", timeout=5) as client:
        reply_topic = f"{prefix}reply/{request_id}"
        await client.subscribe(reply_topic, qos=1)
        for suffix, early in before:
            await client.publish(f"{prefix}{suffix}", early, qos=1)
        topic = f"{prefix}cmd/{verb}" + (f"/{sender}" if sender is not None else "")
        await client.publish(topic, body, qos=1)
        async with asyncio.timeout(WAIT_S):
            async for message in client.messages:
                if message.topic.value != reply_topic:
                    continue  # amqtt (the fallback broker) hands out retained messages of other topics
                assert isinstance(message.payload, bytes)
                reply: dict[str, Any] = json.loads(message.payload)
                return reply
    raise AssertionError("no reply")


STATE_ORDER = {"originating": 0, "ringing": 1, "answered": 2, "ended": 3}


def assert_call_order(messages: list[dict[str, Any]]) -> None:
    """One call's messages: duplicates only with the same event id, states never go back, `ended` last."""
    seen: dict[str, dict[str, Any]] = {}
    firsts = []
    for data in messages:
        if data["event_id"] in seen:
            assert seen[data["event_id"]] == data  # a duplicate is the same message
            continue
        seen[data["event_id"]] = data
        firsts.append(data)
    ranks = [STATE_ORDER[d["state"]] for d in firsts]
    assert ranks == sorted(ranks), [d["state"] for d in firsts]
    assert len(set(ranks)) == len(ranks), [d["state"] for d in firsts]
    assert firsts[-1]["state"] == "ended"
    assert firsts[0]["state"] == "originating"


@contextlib.asynccontextmanager
async def running_daemon(config: Config) -> AsyncIterator[Daemon]:
    """The daemon in-process until the block ends (then a graceful stop), with MQTT connected."""
    await e2e.init_database(config)
    daemon = Daemon(config, install_signals=False)
    task = asyncio.create_task(daemon.run())
    try:
        async with asyncio.timeout(WAIT_S):
            while not (daemon.components and daemon.ami is not None and daemon.ami.connected):
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
            component = mqtt_of(daemon)
            await component.session_ready.wait()  # connected, subscribed (or not) to commands
        yield daemon
    finally:
        daemon.stop()
        assert await asyncio.wait_for(task, WAIT_S) == 0


def mqtt_of(daemon: Daemon) -> MqttComponent:
    """The daemon's MQTT component."""
    return next(c for c in daemon.components if isinstance(c, MqttComponent))
