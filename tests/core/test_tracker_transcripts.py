"""The call tracker fed with real Asterisk event streams: every outcome, in any cross-channel order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.ami.frames import FrameParser, Message
from dialer.clock import FakeClock
from dialer.outcome import Disposition
from dialer.tracker import CallChange, CallState, CallTracker, TrackedCall
from tests.transcripts import stream

SINGLE_CALLS = {
    "03-originate-answered.txt": ("abc123", Disposition.ANSWERED),
    "04-originate-busy.txt": ("busy-1", Disposition.BUSY),
    "05-originate-noanswer.txt": ("noans-1", Disposition.NO_ANSWER),
    "06-originate-congestion.txt": ("cong-1", Disposition.CONGESTION),
    "07-originate-rejected-after-answer.txt": ("rej-1", Disposition.ANSWERED),
    "08-originate-invalid-tech.txt": ("bad-1", Disposition.FAILED),
    "09-originate-rejected-before-answer.txt": ("rejpre-1", Disposition.REJECTED),
    "10-originate-unallocated.txt": ("unalloc-1", Disposition.INVALID_NUMBER),
    "11-originate-no-such-extension.txt": ("noext-1", Disposition.FAILED),
    "12-originate-answered-channelid.txt": ("chid-1", Disposition.ANSWERED),
    "13-originate-answered-min-privileges.txt": ("min-1", Disposition.ANSWERED),
    "14-amd-human.txt": ("amdh-1", Disposition.ANSWERED),
    "15-amd-machine.txt": ("amdm-1", Disposition.MACHINE),
    "16-optout-dtmf.txt": ("opt-1", Disposition.OPTED_OUT),
}

CONCURRENT = {
    **{f"conc-{i:02d}": Disposition.ANSWERED for i in (1, 2, 3, 4, 5, 15, 16, 20)},
    **{f"conc-{i:02d}": Disposition.BUSY for i in (6, 7, 8)},
    **{f"conc-{i:02d}": Disposition.NO_ANSWER for i in (9, 10, 11)},
    **{f"conc-{i:02d}": Disposition.CONGESTION for i in (12, 13, 14)},
    **{f"conc-{i:02d}": Disposition.REJECTED for i in (17, 18)},
    "conc-19": Disposition.INVALID_NUMBER,
}


def events_of(name: str) -> list[Message]:
    # The recordings used ActionID "orig-<call id>"; the dialer uses the call id itself.
    raw = stream(name).replace(b"ActionID: orig-", b"ActionID: ")
    return [m for m in FrameParser().feed(raw) if m.get("Event")]


def run(events: list[Message], call_ids: list[str]) -> tuple[dict[str, CallChange], list[CallChange]]:
    clock = FakeClock()
    changes: list[CallChange] = []
    tracker = CallTracker(clock, changes.append)
    for i, call_id in enumerate(call_ids):
        tracker.track(TrackedCall(call_id, i, i, "camp", f"+1415555{i:04d}", clock.now(), clock.now() + 600))
    for event in events:
        tracker.on_event(event)
        clock.advance(0.001)
    clock.advance(CallTracker.RESPONSE_GRACE_S + 1)
    tracker.tick()
    finals = {c.call.call_id: c for c in changes if c.final}
    return finals, changes


@pytest.mark.parametrize(("name", "expected"), SINGLE_CALLS.items())
def test_each_recorded_outcome_gets_its_disposition(name, expected):
    call_id, disposition = expected
    finals, changes = run(events_of(name), [call_id])
    assert finals[call_id].disposition is disposition
    assert sum(c.final for c in changes) == 1


def test_busy_uses_the_callee_leg_cause_not_the_originated_leg():
    finals, _ = run(events_of("04-originate-busy.txt"), ["busy-1"])
    assert finals["busy-1"].cause == 17  # ;2 says 17, ;1 says 0


def test_answered_call_passes_through_ringing_and_answered_and_has_talk_time():
    finals, changes = run(events_of("03-originate-answered.txt"), ["abc123"])
    states = [c.state for c in changes]
    assert states == [CallState.RINGING, CallState.ANSWERED, CallState.ENDED]
    assert finals["abc123"].talk_s is not None
    assert finals["abc123"].talk_s > 0


def test_twenty_interleaved_calls_each_end_once_with_their_outcome():
    finals, changes = run(events_of("17-concurrent-20.txt"), list(CONCURRENT))
    assert {cid: c.disposition for cid, c in finals.items()} == CONCURRENT
    assert sum(c.final for c in changes) == 20


def _channel_key(event: Message) -> str | None:
    if event.get("Event") == "OriginateResponse":
        return None  # not a channel event: it may overtake or trail any of them
    return event.get("Uniqueid") or event.get("DestUniqueid") or event.get("LocalOneUniqueid")


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_order_across_channels_does_not_change_outcomes(rnd):
    """Asterisk guarantees order only within a channel: shuffle everything else and expect the same."""
    events = events_of("17-concurrent-20.txt")
    queues: dict[str | None, list[Message]] = {}
    for event in events:
        key = _channel_key(event)
        # OriginateResponse and channel-less events float freely; channel events keep their order.
        queues.setdefault(key if key not in (None, "<unknown>") else f"free-{id(event)}", []).append(event)
    shuffled: list[Message] = []
    keys = list(queues)
    while keys:
        key = rnd.choice(keys)
        shuffled.append(queues[key].pop(0))
        if not queues[key]:
            keys.remove(key)
    finals, changes = run(shuffled, list(CONCURRENT))
    assert sum(c.final for c in changes) == 20
    assert {cid: c.disposition for cid, c in finals.items()} == CONCURRENT


def test_events_of_unknown_calls_are_ignored():
    _finals, changes = run(events_of("03-originate-answered.txt"), ["someone-else"])
    assert changes == []


@pytest.mark.parametrize("where", ["first", "last"])
@pytest.mark.parametrize(("name", "expected"), SINGLE_CALLS.items())
def test_originate_response_may_come_before_or_after_every_channel_event(name, expected, where):
    call_id, disposition = expected
    events = events_of(name)
    responses = [e for e in events if e.get("Event") == "OriginateResponse"]
    others = [e for e in events if e.get("Event") != "OriginateResponse"]
    finals, changes = run(responses + others if where == "first" else others + responses, [call_id])
    assert finals[call_id].disposition is disposition
    assert sum(c.final for c in changes) == 1
