"""A part of the daemon that fails (a bug in its loop) stops the whole daemon: one `part_failed` line
naming the part and the error, exit 70 (systemd restarts it), the calls up finish and are recorded,
and nothing hangs on the way out. Before, the daemon dialled on without the part."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path

import pytest

from tests.ops.helpers import DaemonProcess, import_leads, query, sim_log, until, write_config

TALKING = {"rules": [{"match": ".", "outcome": "answered", "ring_s": 0.0, "talk_s": 1.0, "recording": "omit"}]}
WRAPPER = [sys.executable, str(Path(__file__).with_name("part_fault.py"))]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SMS = """
[sms.gateways.pbx]
to = "pjsip:carrier/sip:{number}@sip.carrier.example"
sender = "sip:+14155550100@pbx.example"
"""
PARTS = {
    # task name: (module, class, coroutine method, extra config)
    "recordings-archiver": ("dialer.recordings.archiver", "Archiver", "_run", ""),
    "compliance-refresh": ("dialer.compliance.live", "LiveCompliance", "_run", ""),
    "status-file": ("dialer.ops.status_file", "StatusFile", "_refresh", ""),
    "sms-sender": ("dialer.sms.sender", "SmsSender", "_run", SMS),
    "metrics-refresh": ("dialer.ops.metrics", "MetricsServer", "_refresh",
                        '[metrics]\nenabled = true\naddress = "127.0.0.1"\nport = 0\n'),
    "mqtt-alerts": ("dialer.mqtt.component", "MqttComponent", "_write_alerts",
                    '[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n'),
}


@pytest.mark.parametrize("part", sorted(PARTS))
async def test_a_part_that_fails_stops_the_daemon_with_one_line_and_exit_70(tmp_path, make_sim, part):
    module, cls, method, extra = PARTS[part]
    sim = await make_sim(TALKING)
    config = write_config(tmp_path, sim.port, concurrent=3, rate=50, extra=extra.replace("{port}", str(closed_port())))
    await import_leads(config, [f"+1212555{i:04d}" for i in range(200)])
    daemon = await DaemonProcess(config, command=[*WRAPPER, module, cls, method]).start()
    sim_path = tmp_path / "sim.jsonl"
    try:
        await until(lambda: len(sim_log(sim_path, "originate")) >= 3 or daemon.exited, 60, "dialing")
        assert not daemon.exited, daemon.log_path.read_text()[-2000:]
        daemon.signal(signal.SIGUSR2)
        code = await daemon.wait(90)  # nothing hangs: the drain ends with the calls up
    finally:
        await daemon.kill()
    assert code == 70
    [failed] = daemon.events("part_failed")
    assert failed["part"] == part
    assert f"injected fault in {cls}.{method}" in failed["error"]
    assert failed["exit_code"] == 70
    assert not daemon.events("<not json>"), "something reached the output outside the JSON log"
    # The calls that were up when the part failed were finished and recorded: none open, none lost.
    attempts = query(tmp_path / "dialer.db", "SELECT call_id, state, disposition FROM attempts")
    assert attempts
    assert {a["state"] for a in attempts} == {"ended"}
    assert {a["call_id"] for a in attempts} == {r["action_id"] for r in sim_log(sim_path, "originate")}
    assert all(a["disposition"] == "answered" for a in attempts)
