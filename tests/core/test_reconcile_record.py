"""Reconciliation with Asterisk's record ([pbx_record]): a call with no channel left is settled from
its record, waits grace_s for a record not written yet, and without one ends unknown, retried only
when the readable record proves the Originate never reached Asterisk. Injected clock, real SQLite,
a real record file in the format the simulator writes (config/asterisk/cdr_custom.conf)."""

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
from dialer.sim.cdr import MAPPING, ChannelCdr, render
from dialer.store import Database
from dialer.tracker import TrackedCall


def message(**headers: str) -> Message:
    m = Message()
    m.update(headers)
    return m


class Pbx:
    """An AMI port: Originates go nowhere (no response, no events), CoreShowChannels lists nothing."""

    connected = True

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_nowait(self, fields: Any, action_id: str) -> asyncio.Future[Message]:
        self.sent.append(action_id)
        return asyncio.get_running_loop().create_future()

    async def list_action(self, fields: Any, *, timeout: float | None = None) -> tuple[Message, list[Message]]:
        return message(Response="Success"), []


def config_for(tmp_path: Path, record: Path):
    config = parse_config({
        "database": {"path": str(tmp_path / "d.db")},
        "dialing": {"event_timeout_s": 5},
        "trunks": {"t": {"channel": "PJSIP/{number}@x"}},
        "campaigns": {"c1": {"trunk": "t", "caller_id": "+14155550100", "ring_timeout_s": 10}},
        "retry": {"rules": {"unknown": {"delay_s": 60, "max_attempts": 3}}},
        "pbx_record": {"enabled": True, "path": str(record), "grace_s": 8},
    }, require_secret=False)
    return config.model_copy(update={"ami": config.ami.model_copy(update={"secret": SecretStr("x")})})


async def one_call(tmp_path: Path, record: Path, clock: FakeClock):
    config = config_for(tmp_path, record)
    csv = tmp_path / "leads.csv"
    csv.write_text("phone\n+14155550123\n")
    db_cm = Database.open(config.database.path)
    db = await db_cm.__aenter__()
    with open_source(csv) as source:
        await import_file(db, "c1", source, ImportOptions("US"), 0.0)
    engine = Engine(config, db, Gate(), clock, await db.hash_key())
    optouts: list[TrackedCall] = []
    engine.optout_hooks.append(optouts.append)
    pbx = Pbx()
    engine.ami = pbx
    engine.on_ami_event(message(Event="FullyBooted"))
    await engine._turn(None)
    assert len(pbx.sent) == 1
    return db_cm, db, engine, pbx, optouts


async def test_a_record_written_within_the_grace_settles_the_call_with_its_talk_time_and_opt_out(tmp_path):
    record = tmp_path / "cdr" / "dialer.csv"
    record.parent.mkdir()
    record.write_text("")
    clock = FakeClock()
    db_cm, db, engine, pbx, optouts = await one_call(tmp_path, record, clock)
    try:
        (call_id,) = pbx.sent
        clock.advance(16)  # past the call's deadline: reconciled, no channel, no record yet
        await engine._turn(None)
        assert call_id in engine.tracker  # waits for its record
        started = clock.now() - 12
        with record.open("a") as fh:
            for uid in (call_id, f"{call_id}-2"):
                fh.write(render(MAPPING, ChannelCdr(uid, call_id, "ANSWERED", started, started + 1, started + 7.25,
                                                    {"dialer_call_id": call_id, "dialer_optout": "9"}
                                                    if uid == call_id else {})) + "\n")
        clock.advance(6)
        await engine._turn(None)
        assert call_id not in engine.tracker
        row = await db.fetchone("SELECT disposition, talk_s, answered_at, ended_at, detail FROM attempts")
        assert row["disposition"] == "opted_out"
        assert row["talk_s"] == 6.25
        assert abs(row["answered_at"] - (started + 1)) < 1e-5
        assert abs(row["ended_at"] - (started + 7.25)) < 1e-5
        assert "settled from Asterisk's record" in row["detail"]
        assert [c.call_id for c in optouts] == [call_id]
        lead = await db.fetchone("SELECT status FROM leads")
        assert lead["status"] == "finished"
        assert len(pbx.sent) == 1
    finally:
        await db_cm.__aexit__(None, None, None)


async def test_no_record_after_the_grace_is_an_originate_that_never_reached_asterisk_and_is_retried(tmp_path):
    record = tmp_path / "dialer.csv"
    record.write_text("")  # readable, and nothing in it for this call
    clock = FakeClock()
    db_cm, db, engine, pbx, _ = await one_call(tmp_path, record, clock)
    try:
        (call_id,) = pbx.sent
        clock.advance(16)
        await engine._turn(None)
        assert call_id in engine.tracker
        for _ in range(3):
            clock.advance(6)
            await engine._turn(None)
        assert call_id not in engine.tracker
        row = await db.fetchone("SELECT disposition, detail FROM attempts")
        assert row["disposition"] == "unknown"
        assert "never reached it" in row["detail"]
        audit = await db.fetchone("SELECT rule, call_id, verdict FROM audit WHERE kind = 'outcome'")
        assert dict(audit) == {"rule": "originate_sent=no", "call_id": call_id, "verdict": "unknown"}
        lead = await db.fetchone("SELECT status, next_attempt_at FROM leads")
        assert lead["status"] == "pending"  # retried as unknown (60 s later)
    finally:
        await db_cm.__aexit__(None, None, None)


async def test_an_unreadable_record_proves_nothing_the_lead_is_not_dialled_again_blind(tmp_path):
    record = tmp_path / "locked"
    record.mkdir()  # a folder where the file should be: it cannot be read
    clock = FakeClock()
    db_cm, db, engine, _pbx, _ = await one_call(tmp_path, record, clock)
    alerts: list[str] = []
    engine.alert_hooks.append(lambda alert: alerts.append(alert.kind))
    try:
        for _ in range(6):
            clock.advance(6)
            await engine._turn(None)
        row = await db.fetchone("SELECT disposition FROM attempts")
        assert row["disposition"] == "unknown"
        audit = await db.fetchone("SELECT rule FROM audit WHERE kind = 'outcome'")
        assert audit["rule"] == "originate_sent=unknown"
        lead = await db.fetchone("SELECT status FROM leads")
        assert lead["status"] == "finished"
        assert alerts.count("pbx_record_unreadable") == 1
    finally:
        await db_cm.__aexit__(None, None, None)


async def test_survey_answers_kept_in_the_record_reach_the_hooks_as_their_user_events(tmp_path):
    """Answers given while nobody listened (a kill, an AMI outage) are in CDR(dialer_survey): settling
    the call from the record hands each to the UserEvent hooks with the time it was given."""
    record = tmp_path / "cdr" / "dialer.csv"
    record.parent.mkdir()
    record.write_text("")
    clock = FakeClock()
    db_cm, _db, engine, pbx, _ = await one_call(tmp_path, record, clock)
    seen: list[Message] = []
    engine.tracker.user_event_hooks.append(seen.append)
    try:
        (call_id,) = pbx.sent
        started = clock.now() + 1
        survey = f"likes:2:answered:{int(started) + 3};age::no_answer:{int(started) + 9};garbled;"
        with record.open("a") as fh:
            fh.write(render(MAPPING, ChannelCdr(call_id, call_id, "ANSWERED", started, started + 1, started + 10,
                                                {"dialer_call_id": call_id, "dialer_survey": survey})) + "\n")
        clock.advance(16)
        await engine._turn(None)
        assert call_id not in engine.tracker
        answers = [(m["UserEvent"], m["CallID"], m["Question"], m["Keys"], m["Status"], float(m["At"])) for m in seen]
        assert answers == [("DialerSurveyAnswer", call_id, "likes", "2", "answered", float(int(started) + 3)),
                           ("DialerSurveyAnswer", call_id, "age", "", "no_answer", float(int(started) + 9))]
    finally:
        await db_cm.__aexit__(None, None, None)
