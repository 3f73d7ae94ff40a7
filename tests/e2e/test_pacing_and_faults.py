"""Pacing as seen from the PBX, and faults: AMI dropped mid-call, malformed frames, PBX restart."""

from __future__ import annotations

import asyncio

from dialer.daemon import run_until_settled
from dialer.engine import Engine
from tests.e2e.conftest import ANSWERED, BUSY, LONG, import_numbers, make_config, number, rows, sim_log


async def test_limits_are_never_exceeded_as_seen_from_the_simulator(tmp_path, sim):
    config = make_config(
        tmp_path, sim,
        dialing={"pacing": {"max_concurrent_calls": 8, "max_originations_per_s": 1000}},
        campaign={"pacing": {"max_concurrent_calls": 5, "max_originations_per_s": 20, "burst": 2}},
    )
    numbers = [number(ANSWERED + i % 40, i) for i in range(60)]
    await import_numbers(tmp_path, config, numbers)
    await run_until_settled(config, ["c1"])
    assert sim.max_live_calls <= 5
    times = sorted(o["time"] for o in sim_log(tmp_path))
    assert len(times) == 60
    # Token bucket of 2 at 20/s: in any window of w seconds at most 2 + 20*w originations.
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            window = times[j] - start
            assert j - i + 1 <= 2 + 20 * window + 1  # +1: clock granularity between two processes' stamps


async def test_the_global_limit_caps_all_campaigns_together(tmp_path, sim):
    config = make_config(tmp_path, sim, dialing={"pacing": {"max_concurrent_calls": 4,
                                                            "max_originations_per_s": 1000}})
    config = config.model_copy(update={"campaigns": {**config.campaigns, "c2": config.campaigns["c1"]}})
    await import_numbers(tmp_path, config, [number(LONG, i) for i in range(6)], "c1")
    await import_numbers(tmp_path, config, [number(LONG, i) for i in range(6, 12)], "c2")
    await run_until_settled(config, ["c1", "c2"])
    assert sim.max_live_calls <= 4
    assert len(sim_log(tmp_path)) == 12


async def test_a_number_is_never_live_twice_even_across_campaigns(tmp_path, sim):
    config = make_config(tmp_path, sim)
    config = config.model_copy(update={"campaigns": {**config.campaigns, "c2": config.campaigns["c1"]}})
    shared = [number(LONG, i) for i in range(5)]
    await import_numbers(tmp_path, config, shared, "c1")
    await import_numbers(tmp_path, config, shared, "c2")
    await run_until_settled(config, ["c1", "c2"])
    ends = sim_log(tmp_path, "end")
    starts = {o["action_id"]: o for o in sim_log(tmp_path)}
    spans: dict[str, list[tuple[float, float]]] = {}
    for end in ends:
        start = starts[end["action_id"]]
        spans.setdefault(start["channel"], []).append((start["time"], end["time"]))
    for intervals in spans.values():
        intervals.sort()
        assert len(intervals) == 2
        assert intervals[0][1] <= intervals[1][0]  # the second call began after the first ended


async def test_socket_dropped_mid_call_every_attempt_still_ends_exactly_once(tmp_path, sim):
    config = make_config(tmp_path, sim)
    await import_numbers(tmp_path, config, [number(LONG, i) for i in range(10)] + [number(BUSY, 50)])
    dropped = asyncio.Event()

    def watch(engine: Engine) -> None:
        async def drop_when_live() -> None:
            while sim.live_call_count < 10:
                await asyncio.sleep(0.01)
            sim.drop_clients()
            dropped.set()

        asyncio.get_running_loop().create_task(drop_when_live())

    await run_until_settled(config, ["c1"], on_engine=watch)
    assert dropped.is_set()
    attempts = await rows(config, "SELECT call_id, state, disposition FROM attempts")
    assert len(attempts) == 11
    assert all(a["state"] == "ended" for a in attempts)
    # The calls outlived the dropped socket and were found again by CoreShowChannels: their real end
    # (callee hangs up, cause 16) was seen on the new session.
    assert sorted(a["disposition"] for a in attempts).count("answered") == 10


async def test_calls_lost_with_a_pbx_restart_get_final_outcomes(tmp_path, sim):
    config = make_config(tmp_path, sim)
    await import_numbers(tmp_path, config, [number(LONG, i) for i in range(5)])
    restarted = asyncio.Event()

    def watch(engine: Engine) -> None:
        async def restart_when_live() -> None:
            while sim.live_call_count < 5:
                await asyncio.sleep(0.01)
            await sim.restart(down_s=0.2)
            restarted.set()

        asyncio.get_running_loop().create_task(restart_when_live())

    await run_until_settled(config, ["c1"], on_engine=watch)
    assert restarted.is_set()
    attempts = await rows(config, "SELECT state, disposition, cause, detail FROM attempts")
    assert len(attempts) == 5
    assert all(a["state"] == "ended" for a in attempts)
    assert {a["cause"] for a in attempts} == {0}, attempts  # hung up by the shutdown


async def test_malformed_frames_mid_campaign_do_not_stop_dialing(tmp_path, sim):
    from dialer.sim.server import MALFORMED

    config = make_config(tmp_path, sim, campaign={"pacing": {"max_concurrent_calls": 3,
                                                             "max_originations_per_s": 200}})
    await import_numbers(tmp_path, config, [number(ANSWERED, i) for i in range(12)])

    def watch(engine: Engine) -> None:
        async def spray() -> None:
            while sim.live_call_count == 0:
                await asyncio.sleep(0.01)
            for kind in MALFORMED:
                sim.inject_malformed(kind)

        asyncio.get_running_loop().create_task(spray())

    engine = await run_until_settled(config, ["c1"], on_engine=watch)
    assert engine.stats.by_disposition["answered"] == 12


async def test_a_long_import_lock_delays_outcomes_but_loses_none(tmp_path, sim):
    import sqlite3

    config = make_config(tmp_path, sim)
    await import_numbers(tmp_path, config, [number(ANSWERED, i) for i in range(10)])
    held = asyncio.Event()

    def watch(engine: Engine) -> None:
        async def hold_the_write_lock() -> None:
            while sim.live_call_count == 0:
                await asyncio.sleep(0.01)
            # Off the event loop: waiting for the lock here would block the daemon's own commit.
            conn = sqlite3.connect(config.database.path, isolation_level=None, check_same_thread=False)
            await asyncio.to_thread(conn.execute, "BEGIN IMMEDIATE")  # what `dialer import` does
            await asyncio.sleep(1.0)
            conn.execute("COMMIT")
            conn.close()
            held.set()

        asyncio.get_running_loop().create_task(hold_the_write_lock())

    engine = await run_until_settled(config, ["c1"], on_engine=watch)
    assert held.is_set()
    attempts = await rows(config, "SELECT state, disposition FROM attempts")
    assert len(attempts) == 10
    assert {(a["state"], a["disposition"]) for a in attempts} == {("ended", "answered")}
    assert engine.stats.ended == 10


async def test_campaigns_of_equal_weight_share_the_global_limit(tmp_path, sim):
    config = make_config(tmp_path, sim, dialing={"pacing": {"max_concurrent_calls": 4,
                                                            "max_originations_per_s": 1000}})
    config = config.model_copy(update={"campaigns": {**config.campaigns, "c2": config.campaigns["c1"]}})
    await import_numbers(tmp_path, config, [number(LONG, i) for i in range(8)], "c1")
    await import_numbers(tmp_path, config, [number(LONG, i) for i in range(8, 16)], "c2")
    await run_until_settled(config, ["c1", "c2"])
    first = sorted(sim_log(tmp_path), key=lambda o: o["time"])[:4]
    campaigns = [o["variables"]["DIALER_CAMPAIGN"] for o in first]
    assert sorted(campaigns) == ["c1", "c1", "c2", "c2"]
