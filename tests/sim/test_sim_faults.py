"""Fault injection: restart/shutdown (file 20), malformed frames, half-open sockets, slow responses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from simkit import RawAmi, assert_catalogue_shape, load_transcript, parse_stream, send_originate, wait_idle

from dialer.sim import Outcome, Profile, Rule, SimConfig, SimServer
from dialer.sim.config import OVERSIZED_PAD_BYTES, UNKNOWN_ERROR_TEXT, ResponseFault


@pytest.fixture
async def long_sim(sim_config: SimConfig) -> AsyncIterator[SimServer]:
    sim_config.profile = Profile(rules=(Rule(".*", Outcome.LONG, ring_s=0.0, talk_s=600.0),), read_s=600.0)
    async with SimServer(sim_config) as server:
        yield server


async def _connect_refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


async def test_restart_hangs_up_sends_shutdown_closes_refuses_and_boots(long_sim: SimServer) -> None:
    ami = await RawAmi().connect(long_sim.port)
    await ami.login()
    send_originate(ami, "Local/10060001@callees", "sd-1", "DIALER_CALL_ID=sd-1")
    await ami.until(lambda m: m.event == "MixMonitorStart")
    first_uid = next(m for m in ami.seen if m.event == "Newchannel")["Uniqueid"]
    port = long_sim.port
    restart = asyncio.create_task(long_sim.restart(down_s=0.3))
    rest = parse_stream(await ami.wait_eof())
    events = [m for m in rest if m.event]
    # channels hung up with SoftHangupRequest 4 and Hangup 0, then Shutdown last, then EOF (no Goodbye)
    assert {m["Cause"] for m in events if m.event == "SoftHangupRequest" and m["Cause"] == "4"} == {"4"}
    assert {m["Channel"][-2:]: m["Cause"] for m in events if m.event == "Hangup"} == {";1": "0", ";2": "0"}
    assert events[-1].pairs == [
        ("Event", "Shutdown"),
        ("Privilege", "system,all"),
        ("Shutdown", "Cleanly"),
        ("Restart", "False"),
    ]
    assert not any(m.get("Response") == "Goodbye" for m in rest)
    theirs = [m.event for m in load_transcript("20")["c1"] if m.event]
    assert theirs[-1] == "Shutdown"
    await asyncio.sleep(0.05)
    assert await _connect_refused(port)
    await restart
    assert long_sim.port == port
    client = await RawAmi().connect(port)
    client.send("Login", ActionID="login-after-restart", Username="dialer", Secret="dialer-secret")
    msgs = await client.until(lambda m: m.event == "FullyBooted")
    assert msgs[0]["Message"] == "Authentication accepted"
    booted = msgs[-1]
    assert booted.pairs == [
        ("Event", "FullyBooted"),
        ("Privilege", "system,all"),
        ("Status", "Fully Booted"),
        ("Uptime", "0"),
        ("LastReload", "0"),
    ]
    assert_catalogue_shape(booted)
    # the Uniqueid sequence starts again
    send_originate(client, "Local/10060001@callees", "after-1", "DIALER_CALL_ID=a-1")
    new = await client.until(lambda m: m.event == "Newchannel")
    assert new[-1]["Uniqueid"].endswith(".0")
    assert first_uid.split(".")[1] == "0"
    await client.close()
    await ami.close()


async def test_shutdown_ends_calls_and_the_log_says_so(long_sim: SimServer) -> None:
    ami = await RawAmi().connect(long_sim.port)
    await ami.login()
    send_originate(ami, "Local/5550100@callees", "s-1", "DIALER_CALL_ID=s-1")
    await ami.until(lambda m: m.event == "MixMonitorStart")
    await long_sim.shutdown()
    rest = parse_stream(await ami.wait_eof())
    assert [m.event for m in rest if m.event][-1] == "Shutdown"
    assert long_sim.live_call_count == 0
    end = long_sim.call_ends[-1]
    assert (end.hangup_by, set(end.causes.values())) == ("shutdown", {0})
    assert await _connect_refused(long_sim.port)


async def test_shutdown_before_answer_fails_the_originate(sim: SimServer, ami: RawAmi) -> None:
    send_originate(ami, "Local/5550160@callees", "r-1", "DIALER_CALL_ID=r-1")
    await ami.until(lambda m: m.event == "DialState")
    await sim.shutdown()
    rest = parse_stream(await ami.wait_eof())
    resp = next(m for m in ami.seen + rest if m.event == "OriginateResponse")
    assert (resp["Response"], resp["Reason"]) == ("Failure", "0")


@pytest.mark.parametrize("kind", ["no_colon", "binary", "long_line", "bare_lf", "empty", "truncated"])
async def test_malformed_frames_are_written_and_the_server_goes_on(
    sim: SimServer, ami: RawAmi, kind: str
) -> None:
    assert ami.reader is not None
    written = sim.inject_malformed(kind)
    got = await asyncio.wait_for(ami.reader.readexactly(len(written)), 5)
    assert got == written
    if kind == "binary":
        with pytest.raises(UnicodeDecodeError):
            got.decode("utf-8")
    if kind == "long_line":
        assert max(len(line) for line in got.split(b"\r\n")) >= 200_000
    if kind == "bare_lf":
        assert b"\r" not in got
    # the session still works
    resp = await ami.action("Ping")
    assert resp["Ping"] == "Pong"


async def test_unknown_malformed_kind_is_an_error(sim: SimServer) -> None:
    with pytest.raises(ValueError, match="unknown malformed kind"):
        sim.inject_malformed("nope")


async def test_freeze_stops_reading_and_writing_but_keeps_the_socket(sim: SimServer, ami: RawAmi) -> None:
    sim.freeze()
    ami.send("Ping", ActionID="frozen-ping")
    assert ami.reader is not None
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ami.reader.read(1), 0.2)
    assert not ami.reader.at_eof()
    sim.unfreeze()
    resp = await ami.response("frozen-ping")
    assert resp["Ping"] == "Pong"


async def test_response_delay_keeps_responses_in_order(sim: SimServer, ami: RawAmi) -> None:
    sim.faults.response_delay_s = 0.05
    ami.send("Ping", ActionID="p-1")
    ami.send("Ping", ActionID="p-2")
    msgs = await ami.until(lambda m: m.get("ActionID") == "p-2")
    assert [m["ActionID"] for m in msgs if m.get("Response")] == ["p-1", "p-2"]
    sim.faults.response_delay_s = 0.0


async def test_drop_clients_with_calls_in_progress_loses_nothing_in_the_log(sim: SimServer, connect) -> None:
    client = await connect()
    await client.login()
    for i in range(5):
        send_originate(client, f"Local/1555000{i}@callees", f"o-{i}", f"DIALER_CALL_ID=d-{i}")
    await client.until(lambda m: m.get("ActionID") == "o-4")
    sim.drop_clients()
    await wait_idle(sim)
    assert sorted(e.call_id for e in sim.call_ends) == [f"d-{i}" for i in range(5)]


async def test_slow_client_is_dropped_after_write_timeout(sim_config: SimConfig) -> None:
    sim_config.write_timeout_s = 0.05
    sim_config.profile = Profile(rules=(Rule(".*", Outcome.ANSWERED, ring_s=0.0, talk_s=0.0),))
    async with SimServer(sim_config) as sim:
        client = await RawAmi().connect(sim.port)
        assert client.writer is not None
        transport = client.writer.transport
        await client.login()
        transport.pause_reading()  # a client that stops reading
        feeder = await RawAmi().connect(sim.port)
        await feeder.login("dialer", "dialer-secret", Events="off")
        for round_ in range(40):
            for i in range(100):
                send_originate(feeder, f"Local/555{i:04d}@callees", f"f-{round_}-{i}")
            await asyncio.sleep(0.01)
            if len(sim.sessions) == 1:
                break
        assert len(sim.sessions) == 1
        await wait_idle(sim)
        await feeder.close()
        await client.close()


async def test_stop_leaves_no_task_and_no_open_socket(sim_config: SimConfig) -> None:
    sim = SimServer(sim_config)
    await sim.start()
    client = await RawAmi().connect(sim.port)
    await client.login()
    send_originate(client, "Local/10010001@callees", "o-1", "DIALER_CALL_ID=x")
    await client.until(lambda m: m.event == "DialState")
    await sim.stop()
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert sim.live_call_count == 0
    assert await client.wait_eof() is not None
    assert await _connect_refused(sim.port)
    await client.close()


# -- damaged Originate answers (issue 11): each shape on the wire, and the call placed all the same --

async def _raw_until_idle(sim: SimServer, ami: RawAmi) -> bytes:
    assert ami.reader is not None
    await wait_idle(sim)
    chunks = []
    # The call is over in the simulator; its last events are in the socket or on their way.
    while b"Event: Hangup" not in b"".join(chunks) or b"OriginateResponse" not in b"".join(chunks):
        chunks.append(await asyncio.wait_for(ami.reader.read(1 << 22), 5))
    return b"".join(chunks)


GOOD = b"Response: Success\r\nActionID: f-1\r\nMessage: Originate successfully queued\r\n\r\n"


@pytest.mark.parametrize("fault", list(ResponseFault))
async def test_a_damaged_originate_answer_still_places_the_call(sim: SimServer, ami: RawAmi, fault) -> None:
    sim.faults.originate_responses = [fault]
    send_originate(ami, "Local/5550100@callees", "f-1", "DIALER_CALL_ID=f-1", ChannelId="f-1")
    raw = await _raw_until_idle(sim, ami)
    head = raw[:raw.index(b"Event: ")]  # what came before the call's first event: the answer, if any
    if fault is ResponseFault.GLUED_PREFIX:
        assert head == b"xx " + GOOD
    elif fault is ResponseFault.TRUNCATED:
        assert head == b"Response: Success\r\nActionID: f-1\r\n"  # no Message, no blank line
    elif fault is ResponseFault.NO_RESPONSE_LINE:
        assert head == b"ActionID: f-1\r\nMessage: Originate successfully queued\r\n\r\n"
    elif fault is ResponseFault.UNKNOWN_ERROR:
        assert head == f"Response: Error\r\nActionID: f-1\r\nMessage: {UNKNOWN_ERROR_TEXT}\r\n\r\n".encode()
    elif fault is ResponseFault.SILENT:
        assert head == b""
    elif fault is ResponseFault.OVERSIZED:
        assert head.startswith(b"Response: Success\r\nActionID: f-1\r\n")
        assert len(head) > OVERSIZED_PAD_BYTES
    else:
        assert head == GOOD  # split: the same bytes, in pieces
    assert [(o.action_id, o.fault) for o in sim.originations] == [("f-1", fault.value)]
    assert [(e.action_id, e.outcome) for e in sim.call_ends] == [("f-1", "answered")]
    # The next Originate is answered normally: a fault is used once.
    send_originate(ami, "Local/5550100@callees", "f-2", "DIALER_CALL_ID=f-2")
    assert (await ami.response("f-2"))["Message"] == "Originate successfully queued"


async def test_a_split_answer_arrives_in_pieces_with_nothing_between(sim: SimServer, ami: RawAmi) -> None:
    assert ami.reader is not None
    sim.faults.originate_responses = [ResponseFault.SPLIT]
    send_originate(ami, "Local/5550100@callees", "f-1", "DIALER_CALL_ID=f-1")
    first = await asyncio.wait_for(ami.reader.read(1 << 16), 5)
    assert first == GOOD[:len(GOOD) // 3]  # alone: the rest is written later
    rest = await asyncio.wait_for(ami.reader.readexactly(len(GOOD) - len(first)), 5)
    assert first + rest == GOOD
