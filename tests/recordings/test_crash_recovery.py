"""A crash between the call's end and the archive step loses nothing: the pending row was committed
with the final outcome, and the next start archives the file."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import sys
from pathlib import Path

from pydantic import SecretStr

from dialer.config import load_config
from dialer.daemon import run_until_settled
from tests.cli.test_commands import write_config
from tests.e2e.conftest import ANSWERED, SECRET, number, rows
from tests.recordings.conftest import OMIT

CALLS = [number(ANSWERED, i) for i in range(4)] + [number(OMIT)]


def recordings_section(tmp_path: Path, settle_s: float) -> str:
    return f"""
[recordings]
enabled = true
spool_dir = "{tmp_path / 'spool'}"
archive_dir = "archive"
settle_s = {settle_s}
close_timeout_s = 1.0
"""


async def test_killed_between_hangup_and_archive_then_archived_after_restart(tmp_path, sim):
    # settle_s of an hour: the first daemon never finds a file closed, so SIGKILL lands after the
    # hangups and before any archive step, every time.
    path = write_config(tmp_path, sim.port, extra=recordings_section(tmp_path, settle_s=3600))
    csv = tmp_path / "leads.csv"
    csv.write_text("phone\n" + "\n".join(CALLS) + "\n")
    dialer = [sys.executable, "-m", "dialer"]
    imported = await asyncio.create_subprocess_exec(*dialer, "import", "c1", str(csv), "--config", str(path),
                                                    stdout=asyncio.subprocess.DEVNULL)
    assert await imported.wait() == 0
    config = load_config(path, require_secret=False)
    daemon = await asyncio.create_subprocess_exec(*dialer, "run", "--config", str(path),
                                                  stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(60):
            while True:
                await asyncio.sleep(0.05)
                if (tmp_path / "dialer.db").exists():
                    done = await rows(config, "SELECT COUNT(*) AS n FROM attempts WHERE state = 'ended'")
                    if done[0]["n"] == len(CALLS):
                        break
        await sim.pbx.drain_writes()  # Asterisk has closed its files (1 ms after the hangups)
    finally:
        daemon.send_signal(signal.SIGKILL)
        await daemon.wait()
    pending = await rows(config, "SELECT call_id, status FROM recordings")
    assert len(pending) == 5
    assert {r["status"] for r in pending} == {"pending"}
    assert len(list((tmp_path / "spool").glob("*.wav"))) == 4  # the omitted one never existed

    restart = config.model_copy(update={
        "recordings": config.recordings.model_copy(update={"settle_s": 0.05}),
        "ami": config.ami.model_copy(update={"secret": SecretStr(SECRET)}),
    })
    await run_until_settled(restart, ["c1"])
    after = {r["call_id"]: r for r in await rows(
        restart, "SELECT r.call_id, r.status, r.path, r.sha256, a.recording_status FROM recordings r "
                 "JOIN attempts a ON a.call_id = r.call_id")}
    assert sorted(r["status"] for r in after.values()) == ["archived"] * 4 + ["missing"]
    assert all(r["recording_status"] == r["status"] for r in after.values())
    for row in after.values():
        if row["status"] == "archived":
            assert hashlib.sha256(Path(row["path"]).read_bytes()).hexdigest() == row["sha256"]
            assert Path(row["path"]).is_relative_to(tmp_path / "archive")
    assert not list((tmp_path / "spool").glob("*.wav"))
