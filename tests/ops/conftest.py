"""Fixtures for the service-operation tests: a simulator factory (in this process, over TCP)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from dialer.sim import SimConfig, SimServer, SimUser
from dialer.sim.callees import Profile, profile_from_dict
from tests.ops.helpers import SECRET

MakeSim = Callable[..., Awaitable[SimServer]]


@pytest.fixture
async def make_sim(tmp_path: Path) -> AsyncIterator[MakeSim]:
    """`await make_sim(profile_dict, time_scale=..., cdr=path)`: a simulator logging to tmp_path/sim.jsonl
    (and writing Asterisk's cdr_custom record to `cdr`)."""
    started: list[SimServer] = []

    async def make(profile: dict | None = None, *, time_scale: float = 1.0, seed: int = 3,
                   cdr: Path | None = None) -> SimServer:
        config = SimConfig(users={"dialer": SimUser(secret=SECRET)}, spool_dir=tmp_path / "spool",
                           profile=profile_from_dict(profile) if profile else Profile(), time_scale=time_scale,
                           seed=seed, log_path=tmp_path / "sim.jsonl", login_failure_delay_s=0.05, cdr_path=cdr)
        server = SimServer(config)
        await server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        await server.stop()
