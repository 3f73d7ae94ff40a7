"""Who may command the dialer over MQTT: nobody over an anonymous connection (unless the config says
so, and check-config warns), each operator under its own name through the broker's ACL (a password
or a TLS client certificate), every verb can be switched off, add_leads and add_dnc are bounded, and
every command is on record with its sender. Real mosquitto, real daemon, real SQLite."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import aiomqtt
import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from dialer.mqtt.commands import RateWindow
from dialer.mqtt.config import MqttConfig
from dialer.mqtt.connection import broker_identity, certificate_fingerprint
from dialer.numbers import mask_text
from tests.e2e.conftest import ANSWERED, import_numbers, number, rows
from tests.mqtt.broker import Broker, kind
from tests.mqtt.conftest import Watcher, mqtt_config, mqtt_of, running_daemon, send_command

ACL = Path(__file__).parents[2] / "config" / "mosquitto" / "dialer.acl"
USERS = {"dialer": "d-pw", "operator": "o-pw", "watcher": "w-pw"}
PAUSE = json.dumps({"request_id": "x1", "campaign": "c1"}).encode()
ADD_LEADS = json.dumps({"request_id": "x2", "campaign": "c1",
                        "leads": [{"number": f"+1415555{i:04d}"} for i in range(1000)]}).encode()
ADD_DNC = json.dumps({"request_id": "x3", "numbers": ["+14155550100"]}).encode()


async def command_audit(config) -> list[dict]:
    return await rows(config, "SELECT actor, detail, verdict, campaign_id FROM audit WHERE kind = 'command' "
                              "ORDER BY id")


@pytest.mark.skipif(kind() != "mosquitto", reason="reads mosquitto's log of subscriptions")
async def test_over_an_anonymous_connection_commands_are_not_even_subscribed_to(tmp_path, sim, broker):
    config = mqtt_config(tmp_path, sim, broker)  # the defaults: commands on, no user, nothing allowed
    await import_numbers(tmp_path, config, [number(ANSWERED, i) for i in range(3)])
    with structlog.testing.capture_logs() as logs:
        async with running_daemon(config) as daemon, Watcher(broker) as watcher:
            component = mqtt_of(daemon)
            # The session is past its subscriptions once it publishes stats.
            await watcher.wait_for(lambda: bool(watcher.on("/campaigns/c1/stats")))
            async with aiomqtt.Client(broker.host, broker.port, identifier="attacker") as attacker:
                for verb, body in (("pause", PAUSE), ("add_leads", ADD_LEADS), ("add_dnc", ADD_DNC)):
                    await attacker.publish(f"dialer/test/cmd/{verb}", body, qos=1)
                    await attacker.publish(f"dialer/test/cmd/{verb}/operator", body, qos=1)
            await watcher.wait_for(lambda: len(watcher.on("/cmd/add_dnc/operator")) == 1)  # all were routed
            await watcher.wait_for(lambda: sum(m[-1]["state"] == "ended" for m in watcher.calls().values()) == 3)
            assert component.command_topics == ()
            assert component.commands.handled == 0
    subscribed = [line for line in (broker.log_path.read_text().splitlines())
                  if "dialer-test" in line and "/cmd/" in line]
    assert subscribed == []  # the broker's own record: the dialer never asked for commands
    refused = [e for e in logs if e["event"] == "mqtt_commands_refused"]
    assert refused
    assert "not authenticated" in refused[0]["reason"]
    assert (await rows(config, "SELECT state FROM campaigns"))[0]["state"] == "active"
    assert (await rows(config, "SELECT COUNT(*) AS n FROM leads"))[0]["n"] == 3
    assert await rows(config, "SELECT * FROM dnc_entries") == []
    assert await command_audit(config) == []


async def test_the_operator_commands_under_its_own_name_and_nobody_can_take_another_name(tmp_path, sim):
    broker = Broker(tmp_path / "broker", users=USERS, acl_file=ACL).start()
    config = mqtt_config(tmp_path, sim, broker, username="dialer", secret=USERS["dialer"])
    operator = {"username": "operator", "password": USERS["operator"]}
    try:
        async with running_daemon(config) as daemon:
            assert mqtt_of(daemon).command_topics == ("dialer/test/cmd/+", "dialer/test/cmd/+/+")
            # Published first on the same connection (kept in order by the broker): the ACL drops the
            # operator's command in another user's name, and its plain `cmd/<verb>` one.
            reply = await send_command(broker, "pause", {"request_id": "o1", "campaign": "c1"}, request_id="o1",
                                       sender="operator", **operator,
                                       before=[("cmd/stop/admin", PAUSE), ("cmd/stop", PAUSE)])
            assert reply["ok"] is True, reply
            async with aiomqtt.Client(broker.host, broker.port, username="watcher", password=USERS["watcher"]) as w:
                await w.publish("dialer/test/cmd/resume/watcher", PAUSE, qos=1)
                await w.publish("dialer/test/cmd/resume/operator", PAUSE, qos=1)
            status = await send_command(broker, "status", {"request_id": "o2"}, request_id="o2", sender="operator",
                                        **operator)
            assert status["result"]["campaigns"] == {"c1": "paused"}
            assert mqtt_of(daemon).commands.handled == 2
    finally:
        broker.stop()
    audit = await command_audit(config)
    assert [(a["actor"], a["verdict"], a["campaign_id"]) for a in audit] == [
        ("mqtt:operator", "done", "c1"), ("mqtt:operator", "done", None)]
    assert audit[0]["detail"].startswith('pause done: {"campaign": "c1", "previous": "active", "state": "paused"}')
    assert ("sender 'operator' (topic level, checked by the broker's ACL); via broker user 'dialer'"
            in audit[0]["detail"])


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _pki(folder: Path) -> dict[str, tuple[Path, Path]]:
    """A CA, a server certificate for 127.0.0.1 and client certificates for `dialer` and `operator`."""
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make test certificates")
    ca_key, ca = folder / "ca.key", folder / "ca.pem"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
             "-keyout", str(ca_key), "-out", str(ca))
    made = {"ca": (ca, ca_key)}
    for name, extra in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"), ("dialer", ""), ("operator", "")):
        key, csr, cert = folder / f"{name}.key", folder / f"{name}.csr", folder / f"{name}.pem"
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name if name != 'server' else 'localhost'}",
                 "-keyout", str(key), "-out", str(csr))
        ext = folder / f"{name}.ext"
        ext.write_text(extra + "\n" if extra else "basicConstraints=CA:FALSE\n")
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
                 "-days", "1", "-extfile", str(ext), "-out", str(cert))
        made[name] = (cert, key)
    return made


async def test_a_tls_client_certificate_authenticates_the_dialer_and_names_the_operator(tmp_path, sim):
    pki = _pki(tmp_path)
    broker = Broker(tmp_path / "broker", acl_file=ACL, tls=pki["server"], client_ca=pki["ca"][0]).start()
    cert, key = pki["dialer"]
    config = mqtt_config(tmp_path, sim, broker, tls={"enabled": True, "ca_file": str(pki["ca"][0]),
                                                      "cert_file": str(cert), "key_file": str(key)})
    assert config.mqtt.username is None
    assert config.mqtt.authenticated
    try:
        async with running_daemon(config) as daemon:
            assert mqtt_of(daemon).command_topics  # a certificate counts as authenticated
            import ssl

            context = ssl.create_default_context(cafile=str(pki["ca"][0]))
            context.load_cert_chain(*map(str, pki["operator"]))
            async with aiomqtt.Client(broker.host, broker.port, tls_context=context) as client:
                await client.subscribe("dialer/test/reply/t1", qos=1)
                await client.publish("dialer/test/cmd/pause/operator", b'{"request_id": "t1", "campaign": "c1"}',
                                     qos=1)
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    reply = json.loads(message.payload)
                    break
            assert reply["ok"] is True, reply
    finally:
        broker.stop()
    audit = await command_audit(config)
    assert [a["actor"] for a in audit] == ["mqtt:operator"]
    assert f"via {broker_identity(config.mqtt)}" in audit[0]["detail"]
    assert "client certificate sha256:" in audit[0]["detail"]


async def test_a_switched_off_verb_is_refused_and_audited(tmp_path, sim, broker):
    config = mqtt_config(tmp_path, sim, broker, allow_unauthenticated_commands=True,
                         verbs={"add_leads": False, "pause": False})
    async with running_daemon(config):
        reply = await send_command(broker, "add_leads", ADD_LEADS, request_id="x2", sender="ops")
        assert reply["errors"] == [{"field": "verb", "reason": "add_leads is switched off on this node "
                                                                 "(mqtt.verbs.add_leads)"}]
        reply = await send_command(broker, "pause", PAUSE, request_id="x1", sender="ops")
        assert reply["ok"] is False
        assert (await send_command(broker, "status", {"request_id": "s1"}, request_id="s1"))["ok"] is True
    assert (await rows(config, "SELECT state FROM campaigns"))[0]["state"] == "active"
    assert (await rows(config, "SELECT COUNT(*) AS n FROM leads"))[0]["n"] == 0
    audit = await command_audit(config)
    assert [(a["actor"], a["verdict"]) for a in audit] == [("mqtt:ops", "refused"), ("mqtt:ops", "refused"),
                                                           ("mqtt:unnamed", "done")]
    assert "switched off" in audit[0]["detail"]
    assert "NOT checked: unauthenticated connection" in audit[0]["detail"]


async def test_add_leads_and_add_dnc_are_bounded_per_message_and_per_minute(tmp_path, sim, broker):
    limits = {"add_leads_per_message": 5, "add_leads_per_minute": 8, "add_dnc_per_message": 3,
              "add_dnc_per_minute": 4}
    config = mqtt_config(tmp_path, sim, broker, allow_unauthenticated_commands=True, limits=limits)

    def leads(request_id: str, count: int, start: int) -> dict:
        return {"request_id": request_id, "campaign": "c1",
                "leads": [{"number": number(ANSWERED, start + i)} for i in range(count)]}

    async with running_daemon(config):
        await send_command(broker, "pause", {"request_id": "p", "campaign": "c1"}, request_id="p")
        too_many = await send_command(broker, "add_leads", leads("l1", 6, 0), request_id="l1")
        assert too_many["errors"] == [{"field": "leads", "reason": "6 leads in one message; at most 5 "
                                                                     "(mqtt.limits.add_leads_per_message)"}]
        assert (await send_command(broker, "add_leads", leads("l2", 5, 0), request_id="l2"))["ok"] is True
        over = await send_command(broker, "add_leads", leads("l3", 4, 10), request_id="l3")
        assert over["errors"][0]["field"] == "leads"
        assert "5 leads added in the last minute; 4 more would pass mqtt.limits.add_leads_per_minute = 8" in (
            over["errors"][0]["reason"])
        assert (await send_command(broker, "add_leads", leads("l4", 3, 20), request_id="l4"))["ok"] is True
        dnc = {"request_id": "d1", "numbers": [number(ANSWERED, 30 + i) for i in range(4)]}
        assert (await send_command(broker, "add_dnc", dnc, request_id="d1"))["errors"][0]["field"] == "numbers"
        dnc = {"request_id": "d2", "numbers": [number(ANSWERED, 30 + i) for i in range(3)]}
        assert (await send_command(broker, "add_dnc", dnc, request_id="d2"))["ok"] is True
        dnc = {"request_id": "d3", "numbers": [number(ANSWERED, 40 + i) for i in range(2)]}
        assert "mqtt.limits.add_dnc_per_minute = 4" in (
            await send_command(broker, "add_dnc", dnc, request_id="d3"))["errors"][0]["reason"]
    assert (await rows(config, "SELECT COUNT(*) AS n FROM leads"))[0]["n"] == 8
    assert (await rows(config, "SELECT COUNT(*) AS n FROM dnc_entries"))[0]["n"] == 3
    verdicts = [a["verdict"] for a in await command_audit(config)]
    assert verdicts == ["done", "refused", "done", "refused", "done", "refused", "done", "refused"]


async def test_a_flood_of_commands_is_refused_past_the_rate_and_counted_in_one_audit_row(tmp_path, sim, broker):
    config = mqtt_config(tmp_path, sim, broker, allow_unauthenticated_commands=True,
                         limits={"commands_per_minute": 3})
    async with running_daemon(config):
        replies = [await send_command(broker, "status", {"request_id": f"s{i}"}, request_id=f"s{i}")
                   for i in range(7)]
    assert [r["ok"] for r in replies] == [True] * 3 + [False] * 4
    assert "too many commands: 3 in the last minute (mqtt.limits.commands_per_minute)" in (
        replies[3]["errors"][0]["reason"])
    audit = await command_audit(config)
    assert [a["verdict"] for a in audit] == ["done", "done", "done", "refused"]
    assert audit[-1]["detail"].startswith("4 command(s) refused between")


def test_rate_window_counts_a_rolling_minute():
    window = RateWindow(10, 60.0)
    assert window.retry_after_s(10, 0.0) is None
    window.add(6, 0.0)
    window.add(4, 30.0)
    assert window.retry_after_s(1, 45.0) == 15.0  # the first 6 leave the window at 60 s
    assert window.retry_after_s(7, 45.0) == 45.0  # room for 7 only when both have left
    assert window.retry_after_s(11, 45.0) == 60.0  # never fits
    assert window.used(60.0) == 4
    assert window.retry_after_s(6, 60.0) is None


def test_check_config_warns_about_unauthenticated_commands(tmp_path):
    from tests.cli.test_commands import write_config

    allowed = write_config(tmp_path, 5038, extra="[mqtt]\nenabled = true\nallow_unauthenticated_commands = true\n")
    result = subprocess.run([sys.executable, "-m", "dialer", "check-config", str(allowed)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "warning: mqtt.allow_unauthenticated_commands = true: commands are taken from an unauthenticated" in (
        " ".join(result.stderr.split()))
    refused = MqttConfig(enabled=True)
    assert refused.warnings()[0].startswith("MQTT commands are refused: the broker connection is not authenticated")
    assert MqttConfig(enabled=True, username="dialer").warnings() == []
    assert MqttConfig(enabled=True, commands=False).warnings() == []


async def test_the_daemon_logs_the_warning_at_start(tmp_path, sim, broker):
    config = mqtt_config(tmp_path, sim, broker, allow_unauthenticated_commands=True)
    with structlog.testing.capture_logs() as logs:
        async with running_daemon(config):
            pass
    warnings = [e["warning"] for e in logs if e["event"] == "mqtt_config_warning"]
    assert len(warnings) == 1
    assert warnings[0].startswith("mqtt.allow_unauthenticated_commands = true")


@given(st.binary(min_size=1, max_size=64))
def test_a_certificate_fingerprint_is_never_mistaken_for_a_phone_number(der):
    fingerprint = certificate_fingerprint(der)
    assert mask_text(fingerprint) == fingerprint
    assert fingerprint.startswith("sha256:")
    assert len(fingerprint.split(":")) == 9
