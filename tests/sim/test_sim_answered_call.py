"""The answered Local call of transcript 03, event by event."""

from __future__ import annotations

from simkit import (
    RawAmi,
    assert_catalogue_shape,
    detailed_legs,
    legs,
    load_transcript,
    run_call,
)

from dialer.sim import SimServer

CALL_03 = ("Local/10010001@callees", "DIALER_CALL_ID=abc123", "DIALER_CAMPAIGN=camp-1")


def _transcript_call() -> list:
    msgs = load_transcript("03")["c1"]
    start = next(i for i, m in enumerate(msgs) if m.get("Message") == "Originate successfully queued")
    return [m for m in msgs[start + 1 :] if m.event]


async def test_events_per_leg_come_in_the_order_of_transcript_03(sim: SimServer, ami: RawAmi) -> None:
    ours = await run_call(sim, ami, *CALL_03)
    assert legs(ours) == legs(_transcript_call())
    assert detailed_legs(ours) == detailed_legs(_transcript_call())


async def test_every_event_has_the_header_names_of_the_catalogue(sim: SimServer, ami: RawAmi) -> None:
    ours = await run_call(sim, ami, *CALL_03)
    events = [m for m in ours if m.event]
    assert events
    for msg in events:
        assert_catalogue_shape(msg)


async def test_the_same_events_are_sent_as_in_03(sim: SimServer, ami: RawAmi) -> None:
    ours = [m.event for m in await run_call(sim, ami, *CALL_03) if m.event]
    theirs = [m.event for m in _transcript_call()]
    assert sorted(ours) == sorted(theirs)


async def test_chanvariable_is_empty_until_the_varset_then_filled(sim: SimServer, ami: RawAmi) -> None:
    ours = [
        m for m in await run_call(sim, ami, *CALL_03) if m.event not in (None, "Cdr", "OriginateResponse")
    ]
    one = [m for m in ours if m.get("Channel", "").endswith(";1")]
    two = [m for m in ours if m.get("Channel", "").endswith(";2")]
    # ;1: Newchannel and the AppDial2 Newexten empty; VarSet DIALER_CAMPAIGN (set first) fills it
    assert one[0].all("ChanVariable") == ["DIALER_CALL_ID=", "DIALER_CAMPAIGN="]
    assert one[1].all("ChanVariable") == ["DIALER_CALL_ID=", "DIALER_CAMPAIGN="]
    assert (one[2]["Variable"], one[2].all("ChanVariable")) == (
        "DIALER_CAMPAIGN",
        ["DIALER_CALL_ID=", "DIALER_CAMPAIGN=camp-1"],
    )
    assert (one[3]["Variable"], one[3].all("ChanVariable")) == (
        "DIALER_CALL_ID",
        ["DIALER_CALL_ID=abc123", "DIALER_CAMPAIGN=camp-1"],
    )
    for msg in one[3:]:
        assert msg.all("ChanVariable") == ["DIALER_CALL_ID=abc123", "DIALER_CAMPAIGN=camp-1"]
    # ;2: the two copied VarSets still show the old (empty) values; NewCallerid has them
    assert [m.event for m in two[:4]] == ["Newchannel", "VarSet", "VarSet", "NewCallerid"]
    for msg in two[:3]:
        assert msg.all("ChanVariable") == ["DIALER_CALL_ID=", "DIALER_CAMPAIGN="]
    assert two[1]["CallerIDNum"] == "<unknown>"
    for msg in two[3:]:
        assert msg.all("ChanVariable") == ["DIALER_CALL_ID=abc123", "DIALER_CAMPAIGN=camp-1"]


async def test_originate_response_success_shape(sim: SimServer, ami: RawAmi) -> None:
    ours = await run_call(sim, ami, *CALL_03)
    resp = next(m for m in ours if m.event == "OriginateResponse")
    one = next(m for m in ours if m.event == "Newchannel")
    name = one["Channel"]
    assert resp["Response"] == "Success"
    assert resp["Reason"] == "4"
    assert resp["Channel"] == name
    assert resp["Uniqueid"] == one["Uniqueid"]
    assert resp.pairs[-2:] == [
        (f"ChanVariable({name})", "DIALER_CALL_ID=abc123"),
        (f"ChanVariable({name})", "DIALER_CAMPAIGN=camp-1"),
    ]
    assert_catalogue_shape(resp)


async def test_local_names_uniqueids_and_linkedid(sim: SimServer, ami: RawAmi) -> None:
    ours = await run_call(sim, ami, *CALL_03)
    one, two = [m for m in ours if m.event == "Newchannel"]
    assert one["Channel"].startswith("Local/10010001@callees-")
    assert one["Channel"][:-2] == two["Channel"][:-2]
    suffix = one["Channel"].split("-")[-1][:-2]
    assert len(suffix) == 8
    int(suffix, 16)
    epoch, seq = one["Uniqueid"].split(".")
    assert epoch.isdigit()
    assert two["Uniqueid"] == f"{epoch}.{int(seq) + 1}" or two["Uniqueid"].endswith(f".{int(seq) + 1}")
    assert one["Linkedid"] == two["Linkedid"] == one["Uniqueid"]
    assert (one["ChannelStateDesc"], two["ChannelStateDesc"]) == ("Down", "Ring")


async def test_dialer_context_runs_with_mixmonitor_and_user_event(sim: SimServer, ami: RawAmi) -> None:
    ours = await run_call(sim, ami, *CALL_03)
    uid = next(m for m in ours if m.event == "Newchannel")["Uniqueid"]
    rec = str(sim.config.spool_dir / f"{uid}.wav")
    user = next(m for m in ours if m.event == "UserEvent")
    assert user.pairs[-3:] == [("UserEvent", "DialerAnswered"), ("CallID", "abc123"), ("Recording", rec)]
    assert any(m.event == "MixMonitorStart" for m in ours)
    assert not any(m.event == "MixMonitorStop" for m in ours)
    hangups = {m["Channel"][-2:]: m["Cause"] for m in ours if m.event == "Hangup"}
    assert hangups == {";1": "16", ";2": "16"}


async def test_traffic_is_as_heavy_as_transcript_03(sim: SimServer, ami: RawAmi) -> None:
    ours = await run_call(sim, ami, *CALL_03)
    theirs = _transcript_call()

    def size(msgs: list) -> int:
        return sum(len(k) + len(v) + 4 for m in msgs for k, v in m.pairs) + 2 * len(msgs)

    assert len(ours) == len(theirs) + 1  # + our Originate response
    assert abs(size(ours) - size(theirs)) < 0.1 * size(theirs)


async def test_originate_response_position_varies_between_calls(sim: SimServer, ami: RawAmi) -> None:
    """Only per-channel order is guaranteed: OriginateResponse lands early or late in the answer."""
    positions = set()
    for i in range(16):
        msgs = [
            m.event for m in await run_call(sim, ami, f"Local/1001{i:04d}@callees", f"DIALER_CALL_ID=v-{i}")
        ]
        at = msgs.index("OriginateResponse")
        positions.add(
            "before MixMonitorStart" if at < msgs.index("MixMonitorStart") else "after MixMonitorStart"
        )
    assert positions == {"before MixMonitorStart", "after MixMonitorStart"}
