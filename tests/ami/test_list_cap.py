"""A list answer longer than `max_list_items` (the simulator's `channel_list_padding` fault) is never taken
for the whole list: the caller gets AmiListCapped at once, the alert hook fires, the rest is read and
dropped (never handed on as events), and the session goes on."""

from __future__ import annotations

import asyncio

import pytest

from dialer.ami import AmiClient, AmiSettings, Message
from dialer.ami.errors import AmiListCapped, AmiTimeout
from dialer.sim import SimConfig, SimServer, SimUser

SECRET = "cap-secret"


@pytest.fixture
async def sim(tmp_path):
    config = SimConfig(users={"dialer": SimUser(secret=SECRET)}, spool_dir=tmp_path, time_scale=0.02)
    async with SimServer(config) as server:
        yield server


def settings(sim: SimServer, **kw) -> AmiSettings:
    base = {"ping_interval_s": 60.0, "ping_timeout_s": 60.0, "action_timeout_s": 30.0, "max_list_items": 100}
    return AmiSettings("127.0.0.1", sim.port, "dialer", SECRET, **{**base, **kw})


async def test_a_list_past_the_cap_raises_at_once_and_its_rest_is_dropped(sim):
    capped: list[tuple[str, int]] = []
    events: list[Message] = []
    sim.faults.channel_list_padding = 5000
    async with AmiClient(settings(sim), on_event=events.append,
                         on_list_capped=lambda action, limit: capped.append((action, limit))) as client:
        with pytest.raises(AmiListCapped, match=r"CoreShowChannels: more than 100 list items"):
            await client.list_action([("Action", "CoreShowChannels")])
        assert capped == [("CoreShowChannels", 100)]
        # The session goes on: the next action is answered once the long list is through.
        pong = await client.action([("Action", "Ping")])
        assert pong.get("Response") == "Success"
        assert not [e for e in events if e.get("Event", "").startswith("CoreShowChannel")]
        sim.faults.channel_list_padding = 0
        response, items = await client.list_action([("Action", "CoreShowChannels")])
        assert response.get("Response") == "Success"
        assert items == []  # no calls up: the whole, real list
        assert capped == [("CoreShowChannels", 100)]


async def test_a_list_within_the_cap_is_returned_whole(sim):
    sim.faults.channel_list_padding = 100
    async with AmiClient(settings(sim), on_event=lambda m: None) as client:
        _, items = await client.list_action([("Action", "CoreShowChannels")])
    assert len(items) == 100


async def test_items_of_a_list_that_timed_out_are_not_taken_for_live_events(sim):
    events: list[Message] = []
    sim.faults.channel_list_padding = 20000
    async with AmiClient(settings(sim, max_list_items=50000), on_event=events.append) as client:
        with pytest.raises(AmiTimeout):
            await client.list_action([("Action", "CoreShowChannels")], timeout=0.001)
        await client.action([("Action", "Ping")])  # after the whole list (the session handles one at a time)
        await asyncio.sleep(0)
    assert not [e for e in events if e.get("Event", "").startswith("CoreShowChannel")]
