"""Actions on a live call: CoreShowChannels, Status, Getvar, StopMixMonitor, Hangup (files 18, 22)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from simkit import RawAmi, assert_catalogue_shape, load_transcript, send_originate, wait_idle

from dialer.sim import Outcome, Profile, Rule, SimConfig, SimServer


@pytest.fixture
async def long_sim(sim_config: SimConfig) -> AsyncIterator[SimServer]:
    """Callees stay 10 minutes and the [dialer] Read waits as long, so calls stay up."""
    sim_config.profile = Profile(rules=(Rule(".*", Outcome.LONG, ring_s=0.0, talk_s=600.0),), read_s=600.0)
    async with SimServer(sim_config) as server:
        yield server


async def _live_call(sim: SimServer, call_id: str = "mid-1") -> tuple[RawAmi, list]:
    ami = await RawAmi().connect(sim.port)
    await ami.login()
    send_originate(
        ami, "Local/10060001@callees", "orig-mid-1", f"DIALER_CALL_ID={call_id}", "DIALER_CAMPAIGN=camp-1"
    )
    msgs = await ami.until(lambda m: m.event == "MixMonitorStart")
    msgs += await ami.drain()
    return ami, msgs


async def test_core_show_channels_lists_both_legs(long_sim: SimServer) -> None:
    ami, _ = await _live_call(long_sim)
    ami.send("CoreShowChannels", ActionID="csc-1")
    msgs = await ami.until(lambda m: m.event == "CoreShowChannelsComplete")
    resp = msgs[0]
    assert resp.pairs == [
        ("Response", "Success"),
        ("ActionID", "csc-1"),
        ("EventList", "start"),
        ("Message", "Channels will follow"),
    ]
    items = [m for m in msgs if m.event == "CoreShowChannel"]
    assert [m["Channel"][-2:] for m in items] == [";2", ";1"]
    for m in msgs[1:]:
        assert_catalogue_shape(m)
        assert m["ActionID"] == "csc-1"
    one = items[1]
    assert one.all("ChanVariable") == ["DIALER_CALL_ID=mid-1", "DIALER_CAMPAIGN=camp-1"]
    assert (one["Application"], one["Context"], one["Priority"]) == ("Read", "dialer", "11")
    assert len(one["Duration"].split(":")) == 3
    assert msgs[-1]["ListItems"] == "2"
    await ami.close()


async def test_status_with_variables(long_sim: SimServer) -> None:
    ami, _ = await _live_call(long_sim)
    ami.send("Status", ActionID="status-1", Variables="DIALER_CALL_ID,DIALER_CAMPAIGN")
    msgs = await ami.until(lambda m: m.event == "StatusComplete")
    assert msgs[0]["Message"] == "Channel status will follow"
    statuses = [m for m in msgs if m.event == "Status"]
    assert len(statuses) == 2
    for m in statuses:
        assert m["Privilege"] == "Call"
        assert m.all("Variable") == ["DIALER_CALL_ID=mid-1", "DIALER_CAMPAIGN=camp-1"]
        assert m.keys[-1] == "ActionID"
        assert_catalogue_shape(m)
    assert (msgs[-1]["ListItems"], msgs[-1]["Items"]) == ("2", "2")
    theirs = [m for m in load_transcript("22")["c2"] if m.event == "Status"]
    assert [m.keys for m in statuses] == [m.keys for m in theirs]
    await ami.close()


async def test_getvar_and_stop_mixmonitor(long_sim: SimServer) -> None:
    ami, msgs = await _live_call(long_sim)
    one = next(m for m in msgs if m.event == "Newchannel")["Channel"]
    resp = await ami.action("Getvar", Channel=one, Variable="DIALER_CALL_ID")
    assert resp.keys == ["Response", "ActionID", "Variable", "Value"]
    assert (resp["Variable"], resp["Value"]) == ("DIALER_CALL_ID", "mid-1")
    assert (await ami.action("Getvar", Channel=one, Variable="READSTATUS"))["Value"] == "ERROR"
    assert (await ami.action("Getvar", Channel="Local/nope-1;1", Variable="X"))[
        "Message"
    ] == "No such channel"
    resp = await ami.action("StopMixMonitor", Channel=one)
    assert resp.keys == ["Response", "ActionID"]
    stop = await ami.until(lambda m: m.event == "MixMonitorStop")
    assert_catalogue_shape(stop[-1])
    again = await ami.action("StopMixMonitor", Channel=one)
    assert again["Response"] == "Error"
    await ami.close()


async def test_hangup_action_ends_the_call_then_no_such_channel(long_sim: SimServer) -> None:
    ami, msgs = await _live_call(long_sim)
    one = next(m for m in msgs if m.event == "Newchannel")["Channel"]
    resp = await ami.action("Hangup", Channel=one, Cause="16")
    assert resp["Message"] == "Channel Hungup"
    await wait_idle(long_sim)
    after = await ami.drain()
    hangups = {m["Channel"][-2:]: m["Cause"] for m in after if m.event == "Hangup"}
    assert hangups == {";1": "16", ";2": "16"}
    theirs = load_transcript("18")["c1"]
    start = next(i for i, m in enumerate(theirs) if m.get("Message") == "Channel Hungup")
    end = next(i for i, m in enumerate(theirs) if i > start and m.get("Message") == "Channels will follow")
    their_names = [m.event for m in theirs[start + 1 : end] if m.event and m.event != "DeviceStateChange"]
    our_names = [m.event for m in after if m.event and m.event != "DeviceStateChange"]
    assert sorted(our_names) == sorted(their_names)
    assert long_sim.call_ends[-1].hangup_by == "client"
    ami.send("CoreShowChannels", ActionID="csc-2")
    empty = await ami.until(lambda m: m.event == "CoreShowChannelsComplete")
    assert empty[-1]["ListItems"] == "0"
    gone = await ami.action("Hangup", Channel=one)
    assert (gone["Response"], gone["Message"]) == ("Error", "No such channel")
    await ami.close()


async def test_hangup_by_uniqueid_and_on_the_callee_leg(long_sim: SimServer) -> None:
    ami, msgs = await _live_call(long_sim)
    two = [m for m in msgs if m.event == "Newchannel"][1]
    resp = await ami.action("Hangup", Channel=two["Uniqueid"], Cause="21")
    assert resp["Message"] == "Channel Hungup"
    await wait_idle(long_sim)
    after = await ami.drain()
    assert {m["Channel"][-2:]: m["Cause"] for m in after if m.event == "Hangup"} == {";1": "21", ";2": "21"}
    await ami.close()


async def test_hangup_while_ringing_fails_the_originate(sim: SimServer, ami: RawAmi) -> None:
    send_originate(ami, "Local/5550162@callees", "ring-1", "DIALER_CALL_ID=r-1")
    msgs = await ami.until(lambda m: m.event == "DialState")
    one = msgs[-1]["DestChannel"]
    await ami.action("Hangup", Channel=one)
    await wait_idle(sim)
    after = await ami.drain()
    resp = next(m for m in after if m.event == "OriginateResponse")
    assert (resp["Response"], resp["Reason"]) == ("Failure", "0")


async def test_drop_clients_keeps_the_call_and_a_new_session_finds_it(long_sim: SimServer) -> None:
    """File 22: the call survives; CoreShowChannels/Status find it by DIALER_CALL_ID; no replay."""
    ami, _ = await _live_call(long_sim, "rc-1")
    long_sim.drop_clients()
    await ami.wait_eof()
    assert long_sim.live_call_count == 1
    fresh = await RawAmi().connect(long_sim.port)
    await fresh.login()
    ami_msgs = await fresh.drain()
    assert [m.event for m in ami_msgs] == ["FullyBooted", "SuccessfulAuth"]  # nothing replayed
    fresh.send("CoreShowChannels", ActionID="csc-1")
    items = await fresh.until(lambda m: m.event == "CoreShowChannelsComplete")
    found = [
        m for m in items if m.event == "CoreShowChannel" and "DIALER_CALL_ID=rc-1" in m.all("ChanVariable")
    ]
    assert len(found) == 2
    await fresh.close()
    await ami.close()


async def test_status_of_one_channel_and_unknown_channel(long_sim: SimServer) -> None:
    ami, msgs = await _live_call(long_sim)
    one = next(m for m in msgs if m.event == "Newchannel")["Channel"]
    ami.send("Status", ActionID="s-1", Channel=one)
    got = await ami.until(lambda m: m.event == "StatusComplete")
    assert [m["Channel"] for m in got if m.event == "Status"] == [one]
    bad = await ami.action("Status", Channel="Local/none;1")
    assert bad["Message"] == "No such channel"
    await ami.close()


async def test_setvar_sets_and_reports(long_sim: SimServer) -> None:
    ami, msgs = await _live_call(long_sim)
    one = next(m for m in msgs if m.event == "Newchannel")["Channel"]
    resp = await ami.action("Setvar", Channel=one, Variable="FOO", Value="bar")
    assert resp["Message"] == "Variable Set"
    varset = await ami.until(lambda m: m.event == "VarSet" and m["Variable"] == "FOO")
    assert varset[-1]["Value"] == "bar"
    assert (await ami.action("Getvar", Channel=one, Variable="FOO"))["Value"] == "bar"
    await ami.close()
