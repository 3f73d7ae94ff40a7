"""Fixtures for the simulator tests (the helpers live in simkit.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from simkit import RawAmi

from dialer.sim import SimConfig, SimServer, SimUser

# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def sim_config(tmp_path: Path) -> SimConfig:
    return SimConfig(
        time_scale=0.01,
        spool_dir=tmp_path / "spool",
        login_failure_delay_s=0.05,
        users={
            "dialer": SimUser(secret="dialer-secret"),
            "dialer-min": SimUser(
                secret="dialer-secret",
                read="system,call,agent,user,reporting,originate",
                write="system,call,originate,reporting,agent",
            ),
        },
    )


@pytest.fixture
async def sim(sim_config: SimConfig) -> AsyncIterator[SimServer]:
    async with SimServer(sim_config) as server:
        yield server


@pytest.fixture
async def ami(sim: SimServer) -> AsyncIterator[RawAmi]:
    client = await RawAmi().connect(sim.port)
    await client.login()
    await client.drain()
    yield client
    await client.close()


@pytest.fixture
async def connect(sim: SimServer) -> AsyncIterator[Callable[[], asyncio.Future[RawAmi]]]:
    """Open more raw clients; all are closed at the end."""
    clients: list[RawAmi] = []

    async def make() -> RawAmi:
        client = await RawAmi().connect(sim.port)
        clients.append(client)
        return client

    yield make  # type: ignore[misc]
    for client in clients:
        await client.close()
