"""The simulator as a process: `python -m dialer.sim` prints its port, SIGTERM shuts it down cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from simkit import RawAmi, parse_stream, send_originate


async def test_cli_prints_its_port_and_exits_0_on_sigterm_after_shutdown(tmp_path: Path) -> None:
    log = tmp_path / "sim.jsonl"
    profile = tmp_path / "p.toml"
    profile.write_text('[[rules]]\nmatch = ".*"\noutcome = "long"\ntalk_s = 600\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dialer.sim",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--time-scale",
        "0.01",
        "--profile",
        str(profile),
        "--log",
        str(log),
        "--spool-dir",
        str(tmp_path / "spool"),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line.startswith("sim: listening on 127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        client = await RawAmi().connect(port)
        await client.login()
        send_originate(client, "Local/10060001@callees", "cli-1", "DIALER_CALL_ID=cli-1")
        await client.until(lambda m: m.event == "MixMonitorStart")
        proc.send_signal(signal.SIGTERM)
        rest = parse_stream(await client.wait_eof(20))
        events = [m.event for m in rest if m.event]
        assert events[-1] == "Shutdown"
        assert "Hangup" in events
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        kinds = [json.loads(line)["kind"] for line in log.read_text().splitlines()]
        assert kinds == ["originate", "end"]
        await client.close()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_cli_refuses_a_bad_profile(tmp_path: Path) -> None:
    profile = tmp_path / "bad.toml"
    profile.write_text("surprise = 1\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dialer.sim",
        "--port",
        "0",
        "--profile",
        str(profile),
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert b"unknown keys" in err
