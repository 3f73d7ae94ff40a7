"""Recordings end to end: daemon -> AMI over TCP -> simulator writing WAVs -> archive + metadata rows."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from dialer.daemon import run_until_settled
from dialer.engine import Engine
from tests.e2e.conftest import ANSWERED, BUSY, MACHINE, NO_ANSWER, OPTOUT, import_numbers, number, rows, sim_log
from tests.recordings.conftest import OMIT, TRUNCATE, recording_config, wav_seconds

ANSWERING = [number(ANSWERED, i) for i in range(6)] + [number(MACHINE), number(OPTOUT)]
NOT_ANSWERING = [number(BUSY), number(NO_ANSWER)]


async def test_every_answered_call_has_an_archived_verified_recording_whose_hash_matches(tmp_path, sim):
    config = recording_config(tmp_path, sim, duration_tolerance_s=3.0)
    config = config.model_copy(update={"campaigns": {"c1": config.campaigns["c1"].model_copy(update={"amd": True})}})
    await import_numbers(tmp_path, config, ANSWERING + NOT_ANSWERING)
    await run_until_settled(config, ["c1"])

    answered = await rows(config, "SELECT call_id, campaign_id, talk_s, recording_status, ended_at FROM attempts "
                                  "WHERE answered_at IS NOT NULL")
    assert len(answered) == len(ANSWERING)
    assert all(a["recording_status"] == "archived" for a in answered)
    meta = {r["call_id"]: r for r in await rows(config, "SELECT * FROM recordings")}
    assert set(meta) == {a["call_id"] for a in answered}  # no row for calls nobody answered
    archive = tmp_path / "archive"
    for call in answered:
        row = meta[call["call_id"]]
        path = Path(row["path"])
        assert row["status"] == "archived"
        assert row["problem"] is None
        assert path.parent.parent.parent.parent.parent == archive  # <archive>/YYYY/MM/DD/<campaign>/
        assert path.parent.name == "c1"
        assert path.name == f"{call['call_id']}.wav"
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
        assert len(data) == row["bytes"]
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        assert wav_seconds(path) == pytest.approx(row["duration_s"], abs=0.001)
        assert abs(row["duration_s"] - call["talk_s"]) <= 3.0
        assert row["created_at"] == call["ended_at"]
    assert not list((tmp_path / "spool").glob("*.wav"))  # moved out of Asterisk's spool
    sent = {o["action_id"]: o["variables"] for o in sim_log(tmp_path)}
    for call_id, variables in sent.items():
        assert variables["DIALER_REC_FILE"] == f"{tmp_path / 'spool'}/{call_id}.wav"
        assert variables["DIALER_RECORD"] == "1"


async def test_omitted_and_truncated_recordings_are_flagged_alerted_and_do_not_hold_up_the_rest(tmp_path, sim):
    config = recording_config(tmp_path, sim)
    numbers = [number(ANSWERED, 1), number(OMIT, 2), number(TRUNCATE, 3), number(ANSWERED, 4)]
    await import_numbers(tmp_path, config, numbers)
    alerts = []

    def watch(engine: Engine) -> None:
        engine.alert_hooks.append(alerts.append)

    await run_until_settled(config, ["c1"], on_engine=watch)
    by_number = {r["number"]: r for r in await rows(
        config, "SELECT a.number, a.call_id, a.recording_status, a.disposition, r.status, r.problem, r.path, "
                "r.sha256 FROM attempts a JOIN recordings r ON r.call_id = a.call_id")}
    assert {n: r["recording_status"] for n, r in by_number.items()} == {
        number(ANSWERED, 1): "archived", number(OMIT, 2): "missing", number(TRUNCATE, 3): "broken",
        number(ANSWERED, 4): "archived",
    }
    assert all(r["disposition"] == "answered" for r in by_number.values())  # the outcome itself stands
    omitted, truncated = by_number[number(OMIT, 2)], by_number[number(TRUNCATE, 3)]
    assert omitted["path"] is None
    assert "no file at" in omitted["problem"]
    assert truncated["problem"].startswith("truncated: the header promises")
    kept = Path(truncated["path"])  # the broken file is archived as it is, under its metadata
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == truncated["sha256"]
    kinds = {(a.kind, a.data["call_id"]) for a in alerts if a.kind.startswith("recording_")}
    assert kinds == {("recording_missing", omitted["call_id"]), ("recording_broken", truncated["call_id"])}
    assert all("4155550" not in a.message for a in alerts)  # no number in an alert
