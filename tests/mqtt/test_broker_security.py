"""The shipped mosquitto ACL does what it says, and TLS works (and fails clearly on a wrong CA)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import aiomqtt
import pytest
import structlog

from dialer.daemon import run_until_settled
from tests.e2e.conftest import ANSWERED, import_numbers, number, rows
from tests.mqtt.broker import Broker
from tests.mqtt.conftest import Watcher, mqtt_config, mqtt_of, running_daemon, send_command

ACL = Path(__file__).parents[2] / "config" / "mosquitto" / "dialer.acl"
USERS = {"dialer": "d-pw", "operator": "o-pw", "watcher": "w-pw"}


async def test_the_example_acl_lets_only_the_operator_command(tmp_path, sim):
    broker = Broker(tmp_path / "broker", users=USERS, acl_file=ACL).start()
    config = mqtt_config(tmp_path, sim, broker, username="dialer", secret=USERS["dialer"])
    try:
        async with running_daemon(config) as daemon, \
                Watcher(broker, username="watcher", password=USERS["watcher"]) as watcher:
            await watcher.wait_for(lambda: bool(watcher.on("/status")))  # the watcher reads events
            # A watcher's command is acknowledged by the broker and dropped: it never reaches the dialer.
            async with aiomqtt.Client(broker.host, broker.port, username="watcher", password=USERS["watcher"]) as c:
                await c.publish("dialer/test/cmd/pause", b'{"request_id": "w1", "campaign": "c1"}', qos=1)
            reply = await send_command(broker, "status", {"request_id": "o1"}, request_id="o1",
                                       username="operator", password=USERS["operator"], sender="operator")
            assert reply["ok"] is True
            assert reply["result"]["campaigns"] == {"c1": "active"}
            assert mqtt_of(daemon).commands.handled == 1
            # The watcher never sees replies or commands.
            assert not [m for m in watcher.messages if "/reply/" in m.topic or "/cmd/" in m.topic]
    finally:
        broker.stop()


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make a test certificate")
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


async def test_tls_with_the_broker_certificate_and_a_clear_error_with_the_wrong_one(tmp_path, sim):
    cert, key = _certificate(tmp_path, "server")
    other, _ = _certificate(tmp_path, "other")
    broker = Broker(tmp_path / "broker", tls=(cert, key)).start()
    try:
        # Server-verified TLS but no client certificate: the dialer is anonymous to this broker.
        config = mqtt_config(tmp_path, sim, broker, tls={"enabled": True, "ca_file": str(cert)},
                             allow_unauthenticated_commands=True)
        async with running_daemon(config) as daemon:
            reply = await _status_over_tls(broker, cert)
            assert reply["ok"] is True
            assert mqtt_of(daemon).connection.connections == 1

        wrong = mqtt_config(tmp_path, sim, broker, tls={"enabled": True, "ca_file": str(other)})
        await import_numbers(tmp_path, wrong, [number(ANSWERED, 1)])
        with structlog.testing.capture_logs() as logs:
            engine = await run_until_settled(wrong, ["c1"])
        assert engine.stats.ended == 1  # dialing went on
        down = [line for line in logs if line["event"] == "mqtt_down"]
        assert len(down) == 1
        assert "CERTIFICATE_VERIFY_FAILED" in down[0]["reason"]
        waiting = await rows(wrong, "SELECT COUNT(*) AS n FROM outbox WHERE published_at IS NULL")
        assert waiting[0]["n"] > 0
    finally:
        broker.stop()


async def _status_over_tls(broker: Broker, ca: Path) -> dict:
    import json
    import ssl

    context = ssl.create_default_context(cafile=str(ca))
    async with aiomqtt.Client(broker.host, broker.port, tls_context=context) as client:
        await client.subscribe("dialer/test/reply/t1", qos=1)
        await client.publish("dialer/test/cmd/status", b'{"request_id": "t1"}', qos=1)
        async with asyncio.timeout(20):
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                return json.loads(message.payload)
    raise AssertionError("no reply")

