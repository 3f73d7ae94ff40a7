"""The daemon as a separate process: retained status, the offline will on a crash (SIGKILL), and
after the restart every event of the crashed run still arrives, in order per call."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dialer.config import load_config
from dialer.mqtt.payloads import StatusPayload
from tests.cli.test_commands import DIALER
from tests.cli.test_commands import write_config as cli_config
from tests.e2e.conftest import LONG, import_numbers, number, rows
from tests.mqtt.broker import Broker
from tests.mqtt.conftest import WAIT_S, Watcher, assert_call_order


def write_config(tmp_path: Path, sim_port: int, broker: Broker) -> Path:
    """The CLI tests' config (simulator, secret file, compliance for tests) with MQTT on."""
    return cli_config(tmp_path, sim_port, extra=f"""
[node]
name = "crashy"
[retry.rules]
[mqtt]
enabled = true
host = "{broker.host}"
port = {broker.port}
reconnect_initial_s = 0.05
reconnect_max_s = 0.3
stats_interval_s = 0.2
""")


async def _start(path: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(*DIALER, "run", "--config", str(path),
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


@pytest.fixture
async def processes() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """Daemon processes a test started: killed at its end, whatever happened."""
    started: list[asyncio.subprocess.Process] = []
    yield started
    for process in started:
        if process.returncode is None:
            process.kill()
            await process.wait()


def _statuses(watcher: Watcher) -> list[StatusPayload]:
    return [StatusPayload.model_validate(m.data) for m in watcher.on("/status")]


async def test_a_crash_leaves_offline_retained_and_the_next_run_publishes_everything(tmp_path, sim, broker, processes):
    path = write_config(tmp_path, sim.port, broker)
    config = load_config(path, require_secret=False)
    await import_numbers(tmp_path, config, [number(LONG, i) for i in range(20)])
    async with Watcher(broker) as watcher:
        first = await _start(path)
        processes.append(first)
        await watcher.wait_for(lambda: any(s.state == "online" for s in _statuses(watcher))
                               and len(watcher.calls()) >= 5)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        # The broker publishes the will: retained offline, "connection lost".
        await watcher.wait_for(lambda: _statuses(watcher)[-1].state == "offline")
        assert _statuses(watcher)[-1].reason == "connection lost"
        async with Watcher(broker, "dialer/crashy/status") as late:  # a newcomer gets the retained value
            await late.wait_for(lambda: bool(late.messages))
            assert late.messages[0].retain
            assert late.messages[0].data["state"] == "offline"

        second = await _start(path)
        processes.append(second)
        try:
            async with asyncio.timeout(WAIT_S * 2):
                while True:
                    open_leads = await rows(config, "SELECT COUNT(*) AS n FROM leads WHERE status IN "
                                                    "('pending', 'dialing')")
                    waiting = await rows(config, "SELECT COUNT(*) AS n FROM outbox WHERE published_at IS NULL")
                    if open_leads[0]["n"] == 0 and waiting[0]["n"] == 0:
                        break
                    await asyncio.sleep(0.05)
        finally:
            second.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(second.communicate(), WAIT_S)
        assert second.returncode == 0, stderr.decode()[-2000:]

        outbox = await rows(config, "SELECT payload FROM outbox")
        expected = {json.loads(r["payload"])["event_id"] for r in outbox}
        await watcher.wait_for(lambda: expected <= {m.data.get("event_id") for m in watcher.messages})
        await watcher.wait_for(lambda: _statuses(watcher)[-1].reason == "stopped")

    attempts = await rows(config, "SELECT call_id, state FROM attempts")
    assert attempts
    assert all(a["state"] == "ended" for a in attempts)
    calls = watcher.calls()
    assert set(calls) == {a["call_id"] for a in attempts}
    for messages in calls.values():
        assert_call_order(messages)
    states = [s.state for s in _statuses(watcher)]
    assert states[:2] == ["online", "offline"]
    assert states[-2:] == ["online", "offline"]
