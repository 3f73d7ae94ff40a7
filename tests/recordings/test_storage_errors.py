"""Storage errors: a clear alert naming the path, recordings kept pending, dialing per on_storage_error.

The failure is a real one from the kernel: the archive folder is made immutable (`chattr +i`), so
even root gets EPERM creating anything in it. Where chattr cannot do that, the tests are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dialer.alerts import Alert
from dialer.daemon import run_until_settled
from dialer.engine import Engine
from dialer.recordings.archiver import HOLD_KEY
from tests.e2e.conftest import ANSWERED, import_numbers, number, rows
from tests.recordings.conftest import recording_config

CALLS = [number(ANSWERED, i) for i in range(3)]


def _chattr(flag: str, path: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    path.mkdir(parents=True, exist_ok=True)
    if not _chattr("+i", path):
        pytest.skip("chattr +i is not available here")
    try:
        (path / "probe").touch()
    except PermissionError:
        pass
    else:
        _chattr("-i", path)
        pytest.skip("an immutable folder is still writable here")
    try:
        yield
    finally:
        _chattr("-i", path)


async def test_continue_keeps_dialing_and_archives_once_the_storage_is_back(tmp_path, sim):
    archive = tmp_path / "archive"
    config = recording_config(tmp_path, sim, archive=archive, on_storage_error="continue")
    await import_numbers(tmp_path, config, CALLS)
    alerts: list[Alert] = []
    with immutable(archive):
        await run_until_settled(config, ["c1"], on_engine=lambda e: e.alert_hooks.append(alerts.append))
        ended = await rows(config, "SELECT disposition, recording_status FROM attempts")
        assert [(r["disposition"], r["recording_status"]) for r in ended] == [("answered", "pending")] * 3
        assert len(list((tmp_path / "spool").glob("*.wav"))) == 3  # still in the spool, nothing lost
    storage = [a for a in alerts if a.kind == "storage_error"]
    assert len(storage) == 1  # one alert per episode, not one per retry
    assert str(archive) in storage[0].message
    assert "Operation not permitted" in storage[0].message
    assert "dialing goes on" in storage[0].message

    await run_until_settled(config, ["c1"])  # the next start finds the storage back
    assert [r["status"] for r in await rows(config, "SELECT status FROM recordings")] == ["archived"] * 3


async def test_pause_stops_new_calls_until_the_storage_is_back(tmp_path, sim):
    archive = tmp_path / "archive"
    config = recording_config(tmp_path, sim, archive=archive, on_storage_error="pause")
    await import_numbers(tmp_path, config, CALLS)
    engines: list[Engine] = []
    alerts: list[Alert] = []

    def watch(engine: Engine) -> None:
        engines.append(engine)
        engine.alert_hooks.append(alerts.append)

    with immutable(archive):
        runner = asyncio.create_task(run_until_settled(config, ["c1"], on_engine=watch))
        async with asyncio.timeout(30):
            while not (engines and engines[0].ami is not None and engines[0].ami.connected):
                await asyncio.sleep(0.01)
        engine = engines[0]
        assert HOLD_KEY in engine.dispatch_holds  # held before the first login: no call slipped out
        for _ in range(10):  # ten turns of the dialing loop with leads due
            await asyncio.sleep(config.dialing.poll_interval_s)
        assert len(sim.originations) == 0
        assert [a.kind for a in alerts] == ["storage_error"]
        assert "dialing is paused" in alerts[0].message
        assert str(archive) in alerts[0].message
    async with asyncio.timeout(60):
        await runner  # the archiver's probe succeeds, the hold is lifted, the campaign runs
    assert not engine.dispatch_holds
    assert len(sim.originations) == 3
    assert [r["status"] for r in await rows(config, "SELECT status FROM recordings")] == ["archived"] * 3
