"""An Originate lost with the AMI connection (Asterisk never saw it) still ends with an outcome."""

from __future__ import annotations

import asyncio

from dialer.daemon import Daemon
from tests.e2e.conftest import ANSWERED, import_numbers, init_database, make_config, number, rows


async def test_an_originate_lost_with_the_connection_still_ends(tmp_path, sim):
    config = make_config(tmp_path, sim, campaign={"ring_timeout_s": 1}, dialing={"event_timeout_s": 1})
    await init_database(config)
    daemon = Daemon(config, install_signals=False)
    task = asyncio.create_task(daemon.run())
    while daemon.ami is None or not daemon.ami.connected:
        await asyncio.sleep(0.01)
    sim.freeze()  # the Originate below is written but never read
    await import_numbers(tmp_path, config, [number(ANSWERED, 1)])
    daemon.engine.campaigns_changed()
    while not len(daemon.engine.tracker):
        await asyncio.sleep(0.01)
    sim.drop_clients()  # ...and is lost with the connection
    sim.unfreeze()
    try:
        async with asyncio.timeout(15):  # ring 1 s + event timeout 1 s: long past its deadline
            while len(daemon.engine.tracker):
                await asyncio.sleep(0.1)
    finally:
        live = len(daemon.engine.tracker)
        daemon.stop()
        await task
    assert live == 0
    attempts = await rows(config, "SELECT state, disposition FROM attempts")
    assert attempts == [{"state": "ended", "disposition": "unknown"}]  # invariant 5
