"""The AMI client against the simulator over TCP, including each panoramisk 1.4 defect it must not have."""

from __future__ import annotations

import asyncio

import pytest
import structlog.testing

from dialer.ami import AmiClient, AmiDisconnected, AmiLoginError, AmiSettings, AmiTimeout, Message, OriginateRequest
from dialer.sim import SimConfig, SimServer, SimUser
from dialer.sim.server import MALFORMED

SECRET = "client-secret"


@pytest.fixture
async def sim(tmp_path):
    config = SimConfig(users={"dialer": SimUser(secret=SECRET)}, spool_dir=tmp_path, time_scale=0.02,
                       login_failure_delay_s=0.05)
    async with SimServer(config) as server:
        server.connections = []  # type: ignore[attr-defined]
        opened = server.session_opened

        def count(session):  # a spy on the peer: how many TCP sessions clients opened
            server.connections.append(session)  # type: ignore[attr-defined]
            opened(session)

        server.session_opened = count  # type: ignore[method-assign]
        yield server


def settings(sim: SimServer, **kw) -> AmiSettings:
    base = {"ping_interval_s": 0.2, "ping_timeout_s": 0.3, "reconnect_initial_s": 0.05, "reconnect_max_s": 0.2,
            "action_timeout_s": 5.0}
    return AmiSettings("127.0.0.1", sim.port, kw.pop("username", "dialer"), kw.pop("secret", SECRET), **{**base, **kw})


def originate(call_id: str, digits: str = "14155550100") -> list[tuple[str, str]]:
    return OriginateRequest(call_id, f"Local/{digits}@callees", "dialer", "s", 1, 20000, "<14155550100>",
                            {"DIALER_CALL_ID": call_id}).fields()


async def eventually(check, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


async def test_login_refused_is_a_hard_error_naming_the_user_and_is_not_retried(sim):
    client = AmiClient(settings(sim, username="dialer", secret="wrong"), on_event=lambda m: None)
    with pytest.raises(AmiLoginError, match=r"'dialer'.*Authentication failed"):
        await client.start()
    await asyncio.sleep(0.3)
    assert len(sim.connections) == 1
    await client.close()


async def test_the_secret_never_appears_in_errors_or_repr(sim):
    client = AmiClient(settings(sim, secret="s3cr3t-value"), on_event=lambda m: None)
    with pytest.raises(AmiLoginError) as info:
        await client.start()
    assert "s3cr3t-value" not in str(info.value)
    assert "s3cr3t-value" not in repr(client.settings)
    await client.close()


async def test_an_originate_lost_with_the_connection_is_never_sent_again(sim):
    """panoramisk 1.4 re-sends unanswered actions after a reconnect: a double dial for Originate."""
    connects = []

    async def on_connected():
        connects.append(1)

    quiet = settings(sim, ping_interval_s=60.0)  # the watchdog stays out of this test
    async with AmiClient(quiet, on_event=lambda m: None, on_connected=on_connected) as client:
        sim.freeze()  # the PBX stops reading: the Originate sits unanswered in the socket
        future = client.send_nowait(originate("c1"), "c1")
        await asyncio.sleep(0.1)
        sim.drop_clients()
        with pytest.raises(AmiDisconnected):
            await future
        sim.unfreeze()
        await eventually(lambda: len(connects) == 2)
        # Actions are handled in order: had the client re-sent the Originate on the new session,
        # the simulator would have recorded it before answering this Ping.
        await client.action([("Action", "Ping")])
        await client.action(originate("c2"), action_id="c2")
    assert [o.action_id for o in sim.originations] == ["c2"]


async def test_every_originate_carries_async_true(sim):
    async with AmiClient(settings(sim), on_event=lambda m: None) as client:
        response = await client.action(originate("c2"), action_id="c2")
    assert response["Message"] == "Originate successfully queued"
    assert sim.originations[0].async_ is True


async def test_a_half_open_socket_is_detected_by_the_ping_watchdog(sim):
    lost = []
    async with AmiClient(settings(sim), on_event=lambda m: None, on_disconnected=lost.append) as client:
        sim.freeze()
        await eventually(lambda: bool(lost))
        assert "Pong" in lost[0]
        sim.unfreeze()
        await client.wait_connected(10)
        assert client.reconnects == 1


async def test_close_leaves_no_task_and_no_reconnect_loop(sim):
    client = AmiClient(settings(sim), on_event=lambda m: None)
    await client.start()
    await client.close()
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == []
    sessions = len(sim.connections)
    sim.drop_clients()
    await asyncio.sleep(0.5)
    assert len(sim.connections) == sessions


async def test_reconnects_after_a_pbx_restart_and_resynchronises(sim):
    connects = []

    async def on_connected():
        connects.append(1)

    async with AmiClient(settings(sim), on_event=lambda m: None, on_connected=on_connected) as client:
        await sim.restart(down_s=0.3)
        await eventually(lambda: len(connects) == 2)
        response, channels = await client.list_action([("Action", "CoreShowChannels")])
        assert response["Response"] == "Success"
        assert channels == []


async def test_malformed_frames_do_not_break_the_session(sim):
    events: list[Message] = []
    async with AmiClient(settings(sim), on_event=events.append) as client:
        for kind in MALFORMED:
            sim.inject_malformed(kind)
        response = await client.action([("Action", "Ping")])
        assert response["Ping"] == "Pong"
        await client.action(originate("c3", "14155550150"), action_id="c3")  # busy callee
        await eventually(lambda: any(e.get("Event") == "OriginateResponse" for e in events))
        assert client.connected


async def test_list_action_collects_live_channels_by_call_id(sim):
    async with AmiClient(settings(sim), on_event=lambda m: None) as client:
        await client.action(originate("c4", "14155550195"), action_id="c4")  # long call
        await asyncio.sleep(0.2)
        _, channels = await client.list_action([("Action", "CoreShowChannels")])
    assert {c.get("Uniqueid") for c in channels} == {"c4", "c4-2"}
    assert {c.chanvars.get("DIALER_CALL_ID") for c in channels} == {"c4"}


async def test_an_originate_without_an_answer_times_out_and_a_late_answer_is_dropped(sim):
    """The answer may be lost (a frame the parser dropped): the waiter learns "unknown", not "refused"."""
    sim.faults.response_delay_s = 0.6  # the simulator answers, but after the client's action timeout
    async with AmiClient(settings(sim, action_timeout_s=0.2, ping_interval_s=60.0), on_event=lambda m: None) as client:
        future = client.send_nowait(originate("c7"), "c7")
        with pytest.raises(AmiTimeout):
            await future
        await eventually(lambda: len(sim.originations) == 1)  # Asterisk did place it
        sim.faults.response_delay_s = 0.0
        response = await client.action([("Action", "Ping")])  # the late answer went nowhere
        assert response["Ping"] == "Pong"
        assert client.connected


async def test_a_dropped_frame_is_logged_once_not_per_frame(sim):
    with structlog.testing.capture_logs() as logs:
        async with AmiClient(settings(sim), on_event=lambda m: None) as client:
            for _ in range(3):
                sim.inject_malformed("binary")  # its second frame is not AMI: dropped whole
            await client.action([("Action", "Ping")])  # answered after the damaged bytes: all were read
    drops = [e for e in logs if e["event"] == "ami_frames_dropped"]
    assert 1 <= len(drops) <= 2  # the first, and once more if the count doubled in a later read
    assert drops[0]["dropped_frames"] >= 1
    assert client.parse_stats["dropped_frames"] == 3
