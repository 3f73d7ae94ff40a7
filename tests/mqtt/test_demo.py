"""`dialer demo --mqtt HOST:PORT` publishes the whole demo to a broker a newcomer can watch."""

from __future__ import annotations

import asyncio
import sys

from dialer.config import load_config
from tests.e2e.conftest import rows
from tests.mqtt.conftest import Watcher

DIALER = [sys.executable, "-m", "dialer"]


async def _dialer(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(*DIALER, *args, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_the_demo_publishes_every_call_to_the_broker(tmp_path, broker):
    workdir = tmp_path / "demo"
    async with Watcher(broker) as watcher:
        code, stdout, stderr = await _dialer("demo", "--workdir", str(workdir), "--leads", "8",
                                             "--time-scale", "0.02", "--mqtt", broker.address)
        assert code == 0, stderr
        assert f"mosquitto_sub -h {broker.host} -p {broker.port} -t 'dialer/#' -v" in stderr
        config = load_config(workdir / "dialer.toml", require_secret=False)
        attempts = await rows(config, "SELECT call_id FROM attempts")
        await watcher.wait_for(lambda: sum(m[-1]["state"] == "ended" for m in watcher.calls().values())
                               == len(attempts))
    published = (await rows(config, "SELECT COUNT(*) AS n FROM outbox WHERE published_at IS NOT NULL"))[0]["n"]
    assert f"{published} events published to {broker.address} under dialer/demo/" in stdout
    assert {m.topic.split("/")[1] for m in watcher.messages} == {"demo"}
    assert watcher.on("/campaigns/demo/stats")
    assert watcher.on("/status")[-1].data["state"] == "offline"


async def test_a_bad_broker_address_is_refused(tmp_path):
    code, _, stderr = await _dialer("demo", "--workdir", str(tmp_path), "--mqtt", "localhost")
    assert code == 2
    assert "--mqtt: expected HOST:PORT" in stderr
