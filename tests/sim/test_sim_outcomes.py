"""Every callee outcome: Reason, per-leg causes and the event sequences of the transcripts."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from simkit import RawAmi, assert_catalogue_shape, detailed_legs, load_transcript, run_call

from dialer.sim import Outcome, Profile, Rule, SimConfig, SimServer


def _call_part(name: str) -> list:
    msgs = load_transcript(name)["c1"]
    start = next(i for i, m in enumerate(msgs) if m.get("Message") == "Originate successfully queued")
    return [m for m in msgs[start + 1 :] if m.event]


def _hangup_causes(msgs: list) -> dict[str, int]:
    return {
        m["Channel"][-2:] if m["Channel"].startswith("Local/") else "trunk": int(m["Cause"])
        for m in msgs
        if m.event == "Hangup"
    }


def _reason(msgs: list) -> int:
    return int(next(m for m in msgs if m.event == "OriginateResponse")["Reason"])


# transcript, channel to dial with the default table, variables, extra Originate headers
TRANSCRIPT_CASES = [
    ("04", "Local/10020050@callees", ("DIALER_CALL_ID=busy-1",), {}),
    ("05", "Local/10030060@callees", ("DIALER_CALL_ID=noans-1",), {"Timeout": "5000"}),
    ("06", "Local/10040070@callees", ("DIALER_CALL_ID=cong-1",), {}),
    ("07", "Local/10050080@callees", ("DIALER_CALL_ID=rej-1",), {}),
    ("09", "Local/10090075@callees", ("DIALER_CALL_ID=rejpre-1",), {}),
    ("10", "Local/10000082@callees", ("DIALER_CALL_ID=unalloc-1",), {}),
    ("11", "Local/nosuchext@callees", ("DIALER_CALL_ID=noext-1",), {}),
    ("15", "Local/10070087@callees", ("DIALER_CALL_ID=amdm-1", "DIALER_AMD=1"), {}),
    ("16", "Local/10080090@callees", ("DIALER_CALL_ID=opt-1",), {}),
]


@pytest.mark.parametrize(("name", "channel", "variables", "extra"), TRANSCRIPT_CASES)
async def test_outcome_matches_its_transcript(
    sim: SimServer, ami: RawAmi, name: str, channel: str, variables: tuple[str, ...], extra: dict[str, str]
) -> None:
    ours = await run_call(sim, ami, channel, *variables, **extra)
    theirs = _call_part(name)
    assert detailed_legs(ours) == detailed_legs(theirs)
    assert _reason(ours) == _reason(theirs)
    assert _hangup_causes(ours) == _hangup_causes(theirs)
    ours_resp = next(m for m in ours if m.event == "OriginateResponse")
    theirs_resp = next(m for m in theirs if m.event == "OriginateResponse")
    assert ours_resp["Response"] == theirs_resp["Response"]
    if ours_resp["Response"] == "Failure":
        assert ours_resp["Channel"] == channel
        assert ours_resp["Uniqueid"] == "<unknown>"
    for msg in ours:
        if msg.event:
            assert_catalogue_shape(msg)


async def test_amd_human_leg_matches_transcript_14(sim_config: SimConfig) -> None:
    """With a callee who stays 13.9 s, the [dialer] leg runs exactly as in file 14."""
    sim_config.profile = Profile(rules=(Rule(r"^1011", Outcome.ANSWERED, ring_s=0.0, talk_s=13.9),))
    async with SimServer(sim_config) as sim:
        ami = await RawAmi().connect(sim.port)
        await ami.login()
        await ami.drain()
        ours = await run_call(sim, ami, "Local/10110001@callees", "DIALER_CALL_ID=amdh-1", "DIALER_AMD=1")
        theirs = _call_part("14")
        assert detailed_legs(ours)[";1"] == detailed_legs(theirs)[";1"]
        amd = [m for m in ours if m.get("UserEvent") == "DialerAMD"]
        assert [(m["Status"], m["Cause"]) for m in amd] == [("HUMAN", "HUMAN-816-800")]
        await ami.close()


async def test_amd_machine_reports_longgreeting(sim: SimServer, ami: RawAmi) -> None:
    ours = await run_call(sim, ami, "Local/4930123488@callees", "DIALER_CALL_ID=m-1", "DIALER_AMD=1")
    amd = next(m for m in ours if m.get("UserEvent") == "DialerAMD")
    assert amd.pairs[-4:] == [
        ("UserEvent", "DialerAMD"),
        ("CallID", "m-1"),
        ("Status", "MACHINE"),
        ("Cause", "LONGGREETING-1500-1500"),
    ]


async def test_optout_sends_dtmf_9_and_user_event(sim: SimServer, ami: RawAmi) -> None:
    ours = await run_call(sim, ami, "Local/15551230090@callees", "DIALER_CALL_ID=o-1")
    dtmf = [(m.event, m["Digit"]) for m in ours if m.event in ("DTMFBegin", "DTMFEnd")]
    assert dtmf == [("DTMFBegin", "9"), ("DTMFEnd", "9")]
    assert next(m for m in ours if m.event == "DTMFEnd")["DurationMs"] == "100"
    opt = next(m for m in ours if m.get("UserEvent") == "DialerOptOut")
    assert opt.pairs[-3:] == [("UserEvent", "DialerOptOut"), ("CallID", "o-1"), ("Digit", "9")]


# last two digits -> (outcome, Reason, Local causes ;1/;2, trunk cause)
TABLE = [
    ("00", Outcome.ANSWERED, 4, {";1": 16, ";2": 16}, 16),
    ("49", Outcome.ANSWERED, 4, {";1": 16, ";2": 16}, 16),
    ("50", Outcome.BUSY, 5, {";1": 0, ";2": 17}, 17),
    ("61", Outcome.NO_ANSWER, 3, {";1": 19, ";2": 19}, 19),
    ("72", Outcome.CONGESTION, 8, {";1": 0, ";2": 34}, 34),
    ("77", Outcome.REJECTED, 0, {";1": 21, ";2": 21}, 21),
    ("81", Outcome.ANSWERED_REJECTED, 4, {";1": 21, ";2": 21}, 21),
    ("83", Outcome.UNALLOCATED, 0, {";1": 1, ";2": 1}, 1),
    ("85", Outcome.CHANNEL_FAILURE, 0, {}, None),
    ("88", Outcome.MACHINE, 4, {";1": 16, ";2": 16}, 16),
    ("93", Outcome.OPTOUT, 4, {";1": 16, ";2": 16}, 16),
    ("99", Outcome.LONG, 4, {";1": 16, ";2": 16}, 16),
]


@pytest.mark.parametrize(("last2", "outcome", "reason", "causes", "trunk_cause"), TABLE)
async def test_default_table_outcome_over_local(
    sim: SimServer,
    ami: RawAmi,
    last2: str,
    outcome: Outcome,
    reason: int,
    causes: dict,
    trunk_cause: int | None,
) -> None:
    ours = await run_call(sim, ami, f"Local/+44207946{last2}@callees", "DIALER_CALL_ID=t-1")
    assert _reason(ours) == reason
    assert _hangup_causes(ours) == causes
    end = sim.call_ends[-1]
    assert (end.outcome, end.reason, end.call_id) == (outcome.value, reason, "t-1")


@pytest.mark.parametrize(("last2", "outcome", "reason", "causes", "trunk_cause"), TABLE)
async def test_default_table_outcome_over_pjsip_is_one_channel(
    sim: SimServer,
    ami: RawAmi,
    last2: str,
    outcome: Outcome,
    reason: int,
    causes: dict,
    trunk_cause: int | None,
) -> None:
    ours = await run_call(sim, ami, f"PJSIP/1212555{last2}@carrier", "DIALER_CALL_ID=p-1")
    assert _reason(ours) == reason
    channels = {m["Channel"] for m in ours if m.event == "Newchannel"}
    if trunk_cause is None:
        assert channels == set()
        assert not any(m.event == "Hangup" for m in ours)
        return
    assert len(channels) == 1
    (name,) = channels
    assert name.startswith("PJSIP/carrier-")
    assert int(name.rsplit("-", 1)[1], 16) >= 0
    hangups = [m for m in ours if m.event == "Hangup"]
    assert [(m["Channel"], int(m["Cause"])) for m in hangups] == [(name, trunk_cause)]
    for msg in ours:
        if msg.event and msg.event != "LocalBridge":
            assert_catalogue_shape(msg)
    assert not any(m.event == "LocalBridge" for m in ours)


@pytest.mark.parametrize("tech", ["SIP", "IAX2", "DAHDI"])
async def test_other_trunk_technologies_give_one_channel(sim: SimServer, ami: RawAmi, tech: str) -> None:
    ours = await run_call(sim, ami, f"{tech}/5550100@g1", "DIALER_CALL_ID=x-1")
    names = {m["Channel"] for m in ours if m.event == "Newchannel"}
    assert len(names) == 1
    assert next(iter(names)).startswith(f"{tech}/g1-")
    assert _reason(ours) == 4


def _expected(last2: int) -> Outcome:
    bounds = [
        (50, Outcome.ANSWERED),
        (60, Outcome.BUSY),
        (70, Outcome.NO_ANSWER),
        (75, Outcome.CONGESTION),
        (80, Outcome.REJECTED),
        (82, Outcome.ANSWERED_REJECTED),
        (85, Outcome.UNALLOCATED),
        (87, Outcome.CHANNEL_FAILURE),
        (90, Outcome.MACHINE),
        (95, Outcome.OPTOUT),
        (100, Outcome.LONG),
    ]
    return next(outcome for bound, outcome in bounds if last2 < bound)


@given(st.from_regex(r"\A\+?[1-9][0-9]{0,14}\Z"))
def test_any_number_maps_by_its_last_two_digits(number: str) -> None:
    digits = number.lstrip("+")
    plan = Profile().decide(digits, random.Random(0))
    assert plan.outcome is _expected(int(digits[-2:]))
