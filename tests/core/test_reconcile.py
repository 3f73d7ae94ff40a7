"""Reconciliation against a CoreShowChannels snapshot: what may be ended, and what must be kept."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from dialer.ami.frames import Message
from dialer.clock import FakeClock
from dialer.compliance import Gate
from dialer.config import parse_config
from dialer.engine import Engine
from dialer.leads.importer import ImportOptions, import_file
from dialer.leads.sources import open_source
from dialer.outcome import Disposition
from dialer.store import Database
from dialer.tracker import CallChange, CallState, CallTracker, LiveChannel, TrackedCall


def message(**headers: str) -> Message:
    m = Message()
    m.update(headers)
    return m


def tracker_with(*call_ids: str, restored: bool = False, state: CallState = CallState.ORIGINATING
                 ) -> tuple[CallTracker, list[CallChange], FakeClock]:
    clock = FakeClock()
    changes: list[CallChange] = []
    tracker = CallTracker(clock, changes.append)
    answered_at = clock.now() if state is CallState.ANSWERED else None
    for i, call_id in enumerate(call_ids):
        tracker.track(TrackedCall(call_id, i, i, "c1", f"+1415555{i:04d}", clock.now(), clock.now() + 30,
                                  state=state, restored=restored, answered_at=answered_at))
    return tracker, changes, clock


def test_a_call_whose_channels_appeared_after_the_snapshot_was_asked_for_is_kept():
    tracker, changes, _ = tracker_with("c-new")
    mark = tracker.mark()
    # The snapshot is on its way; meanwhile the call's channel is created (its Newchannel arrives
    # in the same read as the end of the list, before the reconcile code runs).
    tracker.on_event(message(Event="Newchannel", Uniqueid="c-new", Channel="Local/1@callees-1;1"))
    tracker.reconcile([], vanished=Disposition.UNKNOWN, vanished_detail="test", since=mark)
    assert "c-new" in tracker
    assert not [c for c in changes if c.final]


def test_without_news_a_call_with_channels_but_none_in_the_snapshot_ends():
    tracker, changes, _ = tracker_with("c-old")
    tracker.on_event(message(Event="Newchannel", Uniqueid="c-old", Channel="Local/1@callees-1;1"))
    mark = tracker.mark()
    tracker.reconcile([], vanished=Disposition.UNKNOWN, vanished_detail="test", since=mark)
    assert "c-old" not in tracker
    assert [c.disposition for c in changes if c.final] == [Disposition.UNKNOWN]


def test_a_never_seen_call_is_kept_until_its_deadline_then_ended():
    tracker, _changes, clock = tracker_with("c-lost")
    tracker.reconcile([], vanished=Disposition.UNKNOWN, vanished_detail="test")
    assert "c-lost" in tracker  # its Originate may still be queued
    clock.advance(31)
    tracker.reconcile([], vanished=Disposition.UNKNOWN, vanished_detail="test")
    assert "c-lost" not in tracker


def test_a_restored_call_the_previous_process_saw_ringing_ends_at_once_when_gone():
    tracker, _changes, _ = tracker_with("c-ring", restored=True, state=CallState.RINGING)
    tracker.reconcile([], vanished=Disposition.UNKNOWN, vanished_detail="test")
    assert "c-ring" not in tracker


def test_a_restored_call_still_up_is_tracked_until_its_real_end():
    tracker, changes, clock = tracker_with("c-up", restored=True, state=CallState.ANSWERED)
    tracker.reconcile([LiveChannel("c-up", "Local/1@callees-1;1", "c-up", "Up"),
                       LiveChannel("c-up-2", "Local/1@callees-1;2", "c-up", "Up")],
                      vanished=Disposition.UNKNOWN, vanished_detail="test")
    assert "c-up" in tracker
    for uid, name in (("c-up-2", "Local/1@callees-1;2"), ("c-up", "Local/1@callees-1;1")):
        tracker.on_event(message(Event="Hangup", Uniqueid=uid, Channel=name, Cause="16"))
    clock.advance(CallTracker.RESPONSE_GRACE_S + 0.1)
    tracker.tick()
    finals = [c for c in changes if c.final]
    assert [c.disposition for c in finals] == [Disposition.ANSWERED]
    assert finals[0].cause == 16


class LostOriginates:
    """An AMI port whose PBX never received the Originates (the socket died right after writing)."""

    connected = True

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_nowait(self, fields: Any, action_id: str) -> asyncio.Future[Message]:
        self.sent.append(action_id)
        return asyncio.get_running_loop().create_future()  # no response, ever

    async def list_action(self, fields: Any, *, timeout: float | None = None) -> tuple[Message, list[Message]]:
        return message(Response="Success"), []


async def test_an_originate_asterisk_never_got_ends_unknown_after_its_deadline(tmp_path: Path):
    config = parse_config({
        "database": {"path": str(tmp_path / "d.db")},
        "dialing": {"event_timeout_s": 5},
        "trunks": {"t": {"channel": "PJSIP/{number}@x"}},
        "campaigns": {"c1": {"trunk": "t", "caller_id": "+14155550100", "ring_timeout_s": 10}},
    }, require_secret=False)
    config = config.model_copy(update={"ami": config.ami.model_copy(update={"secret": SecretStr("x")})})
    csv = tmp_path / "leads.csv"
    csv.write_text("phone\n+14155550123\n")
    clock = FakeClock()
    async with Database.open(config.database.path) as db:
        with open_source(csv) as source:
            await import_file(db, "c1", source, ImportOptions("US"), 0.0)
        engine = Engine(config, db, Gate(), clock, await db.hash_key())
        await engine.restore()
        ami = LostOriginates()
        engine.ami = ami
        engine.on_ami_event(message(Event="FullyBooted"))
        await engine._turn(None)
        assert len(ami.sent) == 1
        assert len(engine.tracker) == 1
        for _ in range(4):  # past the deadline (ring 10 + events 5), checked several times
            clock.advance(6)
            await engine._turn(None)
        row = await db.fetchone("SELECT state, disposition FROM attempts")
        assert dict(row) == {"state": "ended", "disposition": "unknown"}
        assert len(ami.sent) == 1  # never sent again
