"""Calls that end while the daemon is killed get their true outcome from Asterisk's own record
(cdr_custom, written by the simulator in the shipped format): real daemon processes, the simulator
over TCP, `kill -9` while the calls are answered, the calls end, the daemon starts again."""

from __future__ import annotations

import wave
from pathlib import Path

from tests.ops.helpers import DaemonProcess, import_leads, query, sim_log, until, write_config

# 1 answers and talks 3 s (recorded); 2 answers and presses 9 after 2 s (opt-out); 3 rings until
# the 4 s ring timeout (no answer); 4 answers and talks 2.5 s (its recording is checked too).
PROFILE = {"rules": [
    {"match": "1$", "outcome": "answered", "ring_s": 0.0, "talk_s": 3.0},
    {"match": "2$", "outcome": "optout", "ring_s": 0.0, "dtmf_s": 2.0},
    {"match": "3$", "outcome": "no_answer"},
    {"match": "4$", "outcome": "answered", "ring_s": 0.0, "talk_s": 2.5},
]}
NUMBERS = ["+14155550101", "+14155550102", "+14155550103", "+14155550104"]


def config_for(tmp_path: Path, port: int, record: bool) -> Path:
    recordings = f"""
[recordings]
enabled = true
spool_dir = "{tmp_path / 'spool'}"
archive_dir = "{tmp_path / 'archive'}"
settle_s = 0.05
close_timeout_s = 1.0
retry_interval_s = 0.05
"""
    pbx = f"""
[pbx_record]
enabled = {"true" if record else "false"}
path = "{tmp_path / 'cdr' / 'dialer.csv'}"
grace_s = 2.0
"""
    retry = "[retry.rules.no_answer]\ndelay_s = 3600\nmax_attempts = 3\n"
    return write_config(tmp_path, port, concurrent=10, rate=50, ring_timeout_s=4, retry=retry,
                        extra=recordings + pbx, name="dialer.toml" if record else "first.toml")


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


async def test_calls_that_end_while_the_daemon_is_dead_get_their_outcome_talk_time_recording_and_optout(
        tmp_path, make_sim):
    sim = await make_sim(PROFILE, cdr=tmp_path / "cdr" / "dialer.csv")
    first_config = config_for(tmp_path, sim.port, record=False)
    config = config_for(tmp_path, sim.port, record=True)
    await import_leads(config, NUMBERS)
    db = tmp_path / "dialer.db"
    first = await DaemonProcess(first_config, log_name="first.log").start()
    try:
        # Every call is up (3 answered, 1 ringing) and the daemon has recorded the answers: then kill.
        await until(lambda: sum(1 for c in sim.pbx.calls if c.phase == "up") == 3
                    and len(sim.pbx.calls) == 4, 60, "three calls answered, one ringing")
        await until(lambda: len(query(db, "SELECT 1 FROM attempts WHERE state = 'answered'")) == 3, 30,
                    "the answers recorded")
    finally:
        await first.kill()
    await until(lambda: sim.live_call_count == 0, 30, "every call ended while no dialer watched")
    assert sim.sessions == set() or all(s.closed for s in sim.sessions)
    second = await DaemonProcess(config, log_name="second.log").start()
    try:
        await second.wait_for_log("settled_from_pbx_record")
        await until(lambda: not query(db, "SELECT 1 FROM attempts WHERE state <> 'ended'"), 30, "all settled")
        await until(lambda: len(query(db, "SELECT 1 FROM recordings WHERE status = 'archived'")) == 3, 30,
                    "three recordings archived")
        assert await second.stop() == 0
    finally:
        await second.kill()
    ends = {e["call_id"]: e for e in sim_log(tmp_path / "sim.jsonl", "end")}
    originations = sim_log(tmp_path / "sim.jsonl", "originate")
    assert len(originations) == 4, "a number was dialled again"
    attempts = {a["number"]: a for a in query(db, "SELECT * FROM attempts")}
    answered, optout, no_answer, short = (attempts[n] for n in NUMBERS)
    assert answered["disposition"] == "answered"
    assert short["disposition"] == "answered"
    assert optout["disposition"] == "opted_out"
    assert no_answer["disposition"] == "no_answer"
    for attempt in (answered, optout, short):
        sim_talk = ends[attempt["call_id"]]["talk_s"]
        assert abs(attempt["talk_s"] - sim_talk) < 0.05, (attempt, sim_talk)
        assert "settled from Asterisk's record" in attempt["detail"]
    assert no_answer["talk_s"] is None
    recordings = {r["call_id"]: r for r in query(db, "SELECT * FROM recordings")}
    for attempt in (answered, optout, short):
        recording = recordings[attempt["call_id"]]
        assert recording["status"] == "archived", recording
        assert abs(wav_seconds(Path(recording["path"])) - attempt["talk_s"]) < 0.1
    dnc = query(db, "SELECT number, list, source FROM dnc_entries WHERE removed_at IS NULL")
    assert [(d["list"], d["source"]) for d in dnc if d["number"] == NUMBERS[1]] == [
        ("optout", f"call:{optout['call_id']}")]
    leads = {row["number"]: row for row in query(db, "SELECT number, status, last_disposition FROM leads")}
    assert {leads[n]["status"] for n in (NUMBERS[0], NUMBERS[1], NUMBERS[3])} == {"finished"}
    assert leads[NUMBERS[2]]["status"] == "pending"  # no answer: retried per its rule, an hour later
    assert not query(db, "SELECT 1 FROM audit WHERE kind = 'outcome'")  # nothing unknown


async def test_without_a_record_a_call_that_ended_unseen_stays_unknown_and_is_not_dialled_again(
        tmp_path, make_sim):
    sim = await make_sim(PROFILE)
    first_config = config_for(tmp_path, sim.port, record=False)
    await import_leads(first_config, NUMBERS[:1])
    db = tmp_path / "dialer.db"
    first = await DaemonProcess(first_config, log_name="first.log").start()
    try:
        await until(lambda: len(query(db, "SELECT 1 FROM attempts WHERE state = 'answered'")) == 1, 60,
                    "the answer recorded")
    finally:
        await first.kill()
    await until(lambda: sim.live_call_count == 0, 30, "the call ended while no dialer watched")
    second = await DaemonProcess(first_config, log_name="second.log").start()
    try:
        await until(lambda: not query(db, "SELECT 1 FROM attempts WHERE state <> 'ended'"), 30, "settled")
        assert await second.stop() == 0
    finally:
        await second.kill()
    (attempt,) = query(db, "SELECT * FROM attempts")
    assert attempt["disposition"] == "unknown_after_restart"
    (audit,) = query(db, "SELECT * FROM audit WHERE kind = 'outcome'")
    assert audit["call_id"] == attempt["call_id"]
    assert audit["rule"] == "originate_sent=yes"
    (lead,) = query(db, "SELECT status FROM leads")
    assert lead["status"] == "finished"  # it may have been answered: never dialled again blind
    assert len(sim_log(tmp_path / "sim.jsonl", "originate")) == 1
