"""Originate parameters: errors, synchronous Originate, ChannelId, invalid technology (08, 12, 23)."""

from __future__ import annotations

import pytest
from simkit import RawAmi, assert_catalogue_shape, load_transcript, run_call, send_originate, wait_idle

from dialer.sim import SimServer


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Context": "dialer", "Exten": "s", "Priority": "1", "Async": "true"}, "Channel not specified"),
        (
            {"Channel": "Local/10050007@callees", "Context": "dialer", "Exten": "nosuch", "Priority": "1"},
            "Extension does not exist.",
        ),
        (
            {"Channel": "Local/10050007@callees", "Context": "nosuch", "Exten": "s", "Priority": "1"},
            "Extension does not exist.",
        ),
        (
            {"Channel": "Local/10050008@callees", "Context": "dialer", "Exten": "s", "Priority": "abc"},
            "Invalid priority",
        ),
        (
            {"Channel": "Local/10050009@callees", "Context": "dialer", "Exten": "s", "Timeout": "abc"},
            "Invalid timeout",
        ),
        ({"Channel": "nochannelslash", "Context": "dialer", "Exten": "s"}, "Invalid channel"),
    ],
)
async def test_parameter_errors_are_synchronous(
    sim: SimServer, ami: RawAmi, headers: dict[str, str], message: str
) -> None:
    resp = await ami.action("Originate", *headers.items())
    assert resp.keys == ["Response", "ActionID", "Message"]
    assert (resp["Response"], resp["Message"]) == ("Error", message)
    assert sim.live_call_count == 0
    assert sim.originations[-1].response == "Error"
    assert sim.originations[-1].message == message


async def test_error_texts_are_those_of_transcript_23() -> None:
    texts = {m.get("Message") for m in load_transcript("23")["c1"] if m.get("Response") == "Error"}
    assert {
        "Channel not specified",
        "Extension does not exist.",
        "Invalid priority",
        "Invalid timeout",
    } <= texts


async def test_async_originate_is_queued_at_once_even_for_an_unknown_technology(
    sim: SimServer, ami: RawAmi
) -> None:
    ours = await run_call(sim, ami, "Nope/123", "DIALER_CALL_ID=bad-1")
    assert [m.get("Message") for m in ours if m.event is None] == ["Originate successfully queued"]
    events = [m for m in ours if m.event]
    assert [m.event for m in events] == ["OriginateResponse"]
    theirs = next(m for m in load_transcript("08")["c1"] if m.event == "OriginateResponse")
    ours_or = events[0]
    assert ours_or.keys == theirs.keys
    assert [
        ours_or[k] for k in ("Response", "Channel", "Reason", "Uniqueid", "CallerIDNum", "CallerIDName")
    ] == [
        "Failure",
        "Nope/123",
        "0",
        "<unknown>",
        "5551230000",
        "Dialer Test",
    ]
    assert sim.call_ends[-1].outcome == "channel_failure"


async def test_channel_id_sets_the_uniqueids(sim: SimServer, ami: RawAmi) -> None:
    ours = await run_call(
        sim,
        ami,
        "Local/10050081@callees",
        "DIALER_CALL_ID=chid-1",
        ChannelId="dialer-chid-1",
        OtherChannelId="dialer-chid-1-2",
    )
    one, two = [m for m in ours if m.event == "Newchannel"]
    assert (one["Uniqueid"], one["Linkedid"]) == ("dialer-chid-1", "dialer-chid-1")
    assert (two["Uniqueid"], two["Linkedid"]) == ("dialer-chid-1-2", "dialer-chid-1")
    resp = next(m for m in ours if m.event == "OriginateResponse")
    assert resp["Uniqueid"] == "dialer-chid-1"
    user = next(m for m in ours if m.get("UserEvent") == "DialerAnswered")
    assert user["Recording"] == str(sim.config.spool_dir / "dialer-chid-1.wav")
    # the transcript's ids look the same
    theirs = [m for m in load_transcript("12")["c1"] if m.event == "Newchannel"]
    assert [m["Uniqueid"] for m in theirs] == ["dialer-chid-1", "dialer-chid-1-2"]


async def test_channel_id_already_in_use_fails_like_an_unknown_channel(sim: SimServer, ami: RawAmi) -> None:
    send_originate(ami, "Local/10010099@callees", "o-1", "DIALER_CALL_ID=a", ChannelId="dup-1")
    await ami.until(lambda m: m.event == "Newchannel")
    send_originate(ami, "Local/10010098@callees", "o-2", "DIALER_CALL_ID=b", ChannelId="dup-1")
    msgs = await ami.until(lambda m: m.event == "OriginateResponse" and m["ActionID"] == "o-2")
    assert msgs[-1]["Response"] == "Failure"
    await wait_idle(sim)


async def test_sync_originate_blocks_later_actions_until_answered(sim: SimServer, ami: RawAmi) -> None:
    """File 23: the Ping sent right after waits for the answer."""
    send_originate(ami, "Local/10050080@callees", "orig-sync-1", "DIALER_CALL_ID=sync-1", Async="false")
    ami.send("Ping", ActionID="ping-during-sync")
    msgs = await ami.until(lambda m: m.get("ActionID") == "ping-during-sync")
    responses = [m for m in msgs if m.event is None]
    assert [(m["ActionID"], m.get("Message")) for m in responses] == [
        ("orig-sync-1", "Originate successfully queued"),
        ("ping-during-sync", None),
    ]
    # it came after the answer, and there is no OriginateResponse for a synchronous Originate
    assert any(m.event == "DialEnd" and m["DialStatus"] == "ANSWER" for m in msgs)
    await wait_idle(sim)
    rest = await ami.drain()
    assert not any(m.event == "OriginateResponse" for m in msgs + rest)
    assert sim.originations[-1].async_ is False


async def test_sync_originate_to_a_busy_callee_fails(sim: SimServer, ami: RawAmi) -> None:
    send_originate(ami, "Local/10020056@callees", "orig-sync-2", "DIALER_CALL_ID=sync-2", Async="false")
    resp = await ami.response("orig-sync-2")
    assert (resp["Response"], resp["Message"]) == ("Error", "Originate failed")
    await wait_idle(sim)


async def test_variables_repeated_and_comma_separated(sim: SimServer, ami: RawAmi) -> None:
    ours = await run_call(
        sim,
        ami,
        "Local/10010001@callees",
        "DIALER_CALL_ID=v-1,DIALER_CAMPAIGN=c-9",
        "DIALER_REC_FILE=/tmp/x.wav",
    )
    varsets = [
        (m["Variable"], m["Value"]) for m in ours if m.event == "VarSet" and m["Channel"].endswith(";1")
    ]
    # Asterisk applies them to ;1 in reverse order
    assert varsets[:3] == [
        ("DIALER_REC_FILE", "/tmp/x.wav"),
        ("DIALER_CAMPAIGN", "c-9"),
        ("DIALER_CALL_ID", "v-1"),
    ]
    assert sim.originations[-1].variables == {
        "DIALER_CALL_ID": "v-1",
        "DIALER_CAMPAIGN": "c-9",
        "DIALER_REC_FILE": "/tmp/x.wav",
    }


async def test_no_answer_waits_for_the_timeout(sim: SimServer, ami: RawAmi) -> None:
    ours = await run_call(sim, ami, "Local/5550166@callees", "DIALER_CALL_ID=n-1", Timeout="2000")
    end = sim.call_ends[-1]
    assert (end.outcome, end.reason, end.hangup_by) == ("no_answer", 3, "timeout")
    assert any(m.event == "DialState" for m in ours)


async def test_answered_callee_ringing_longer_than_timeout_is_no_answer(sim_config) -> None:
    from dialer.sim import Outcome, Profile, Rule

    sim_config.profile = Profile(rules=(Rule(".*", Outcome.ANSWERED, ring_s=40.0),))
    async with SimServer(sim_config) as sim:
        ami = await RawAmi().connect(sim.port)
        await ami.login()
        await run_call(sim, ami, "Local/123@callees", Timeout="30000")
        assert sim.call_ends[-1].reason == 3
        await ami.close()


async def test_events_of_other_originates_keep_their_shapes(sim: SimServer, ami: RawAmi) -> None:
    for i, number in enumerate(["10010001", "10020050", "5550166", "5550177"]):
        send_originate(ami, f"Local/{number}@callees", f"o-{i}", f"DIALER_CALL_ID=c-{i}", Timeout="1000")
    await wait_idle(sim)
    for msg in await ami.drain():
        if msg.event:
            assert_catalogue_shape(msg)
    assert sim.max_live_calls == 4
