"""The archiver's decisions on one pending row, on an injected clock: wait for the file to close,
missing after the close timeout, resume after a crash mid-move, refuse paths outside the spool."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from dialer.alerts import Alert
from dialer.clock import FakeClock
from dialer.compliance import Gate
from dialer.config import parse_config
from dialer.engine import Engine
from dialer.recordings import store
from dialer.recordings.archiver import Archiver
from dialer.recordings.paths import archive_file
from dialer.sim.recordings import write_wav
from dialer.store import Database
from dialer.tasks import PartTasks

START = 1_800_000_000.0


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[Archiver, FakeClock, list[Alert]]]:
    config = parse_config({
        "database": {"path": str(tmp_path / "dialer.db")},
        "recordings": {"enabled": True, "spool_dir": str(tmp_path / "spool"), "archive_dir": str(tmp_path / "archive"),
                       "settle_s": 1.0, "close_timeout_s": 10.0},
        "trunks": {"t": {"channel": "Local/{number}@x"}},
        "campaigns": {"c1": {"trunk": "t", "caller_id": "+14155550100"}},
    }, require_secret=False)
    clock = FakeClock(START)
    alerts: list[Alert] = []
    async with Database.open(config.database.path) as db:
        engine = Engine(config, db, Gate(), clock, await db.hash_key())
        engine.alert_hooks.append(alerts.append)
        yield Archiver(engine, db, clock), clock, alerts


async def pending(archiver: Archiver, call_id: str, **fields: Any) -> None:
    """An ended, answered attempt with its pending recording row, as the engine's tx hook writes it."""
    spool = archiver.settings.spool_dir
    row = store.NewPending(**{"call_id": call_id, "campaign_id": "c1", "source_path": f"{spool}/{call_id}.wav",
                              "stop_seen": False, "expected_s": 2.0, "created_at": START, **fields})
    async with archiver.db.write() as tx:
        await tx.execute("INSERT INTO campaigns (id, created_at, updated_at) VALUES ('c1', 0, 0) "
                         "ON CONFLICT (id) DO NOTHING")
        contact = await tx.execute("INSERT INTO contacts (created_at, updated_at) VALUES (0, 0)")
        phone = f"+1415555{contact:04d}"
        await tx.execute("INSERT INTO phone_numbers (number, contact_id, region, number_type, created_at) "
                         "VALUES (?, ?, 'US', 'fixed_line', 0)", (phone, contact))
        lead = await tx.execute("INSERT INTO leads (campaign_id, number, created_at, updated_at) "
                                "VALUES ('c1', ?, 0, 0)", (phone,))
        await tx.execute("INSERT INTO attempts (call_id, lead_id, campaign_id, number, node, audit_id, state, "
                         "created_at, answered_at, ended_at) VALUES (?, ?, 'c1', ?, 'n', 0, 'ended', 0, 1, ?)",
                         (call_id, lead, phone, START))
        await tx.run(store.insert_pending, [row])


async def status(archiver: Archiver, call_id: str) -> dict[str, Any]:
    row = await archiver.db.fetchone("SELECT * FROM recordings WHERE call_id = ?", (call_id,))
    assert row is not None
    return dict(row)


def spool_wav(archiver: Archiver, call_id: str, seconds: float = 2.0) -> Path:
    path = archiver.settings.spool_dir / f"{call_id}.wav"
    write_wav(path, round(seconds * 8000))
    return path


async def test_a_file_is_archived_only_after_it_stopped_changing_for_settle_s(rig):
    archiver, clock, alerts = rig
    await pending(archiver, "c1a")
    spool_wav(archiver, "c1a", seconds=1.0)  # still being written
    assert await archiver.run_once() == clock.monotonic() + 1.0  # first look: come back in settle_s
    clock.advance(1.0)
    spool_wav(archiver, "c1a", seconds=2.0)  # it grew meanwhile
    await archiver.run_once()
    assert (await status(archiver, "c1a"))["status"] == "pending"
    clock.advance(0.5)
    await archiver.run_once()
    assert (await status(archiver, "c1a"))["status"] == "pending"  # unchanged, but not for settle_s yet
    clock.advance(0.5)
    assert await archiver.run_once() is None
    row = await status(archiver, "c1a")
    assert (row["status"], row["duration_s"]) == ("archived", 2.0)
    assert not (archiver.settings.spool_dir / "c1a.wav").exists()
    assert alerts == []


async def test_after_mixmonitorstop_the_file_is_taken_at_the_first_look(rig):
    archiver, _clock, alerts = rig
    await pending(archiver, "c2a", stop_seen=True)
    spool_wav(archiver, "c2a")
    assert await archiver.run_once() is None
    row = await status(archiver, "c2a")
    assert row["status"] == "archived"
    assert row["archived_at"] == START
    assert hashlib.sha256(Path(row["path"]).read_bytes()).hexdigest() == row["sha256"]
    assert alerts == []


async def test_a_file_that_never_appears_is_missing_after_the_close_timeout(rig):
    archiver, clock, alerts = rig
    await pending(archiver, "c3a")
    for _ in range(9):
        await archiver.run_once()
        clock.advance(1.0)
    assert (await status(archiver, "c3a"))["status"] == "pending"
    clock.advance(1.0)
    await archiver.run_once()
    row = await status(archiver, "c3a")
    assert (row["status"], row["path"]) == ("missing", None)
    assert row["problem"] == f"no file at {archiver.settings.spool_dir}/c3a.wav 10 s after the call ended"
    assert [a.kind for a in alerts] == ["recording_missing"]
    assert (await archiver.db.fetchone("SELECT recording_status FROM attempts WHERE call_id = 'c3a'"))[0] == "missing"


async def test_a_crash_after_the_move_is_finished_from_the_archive(rig):
    archiver, _clock, _ = rig
    await pending(archiver, "c4a")
    moved = archive_file(archiver.settings.archive_dir, START, "c1", "c4a")
    moved.parent.mkdir(parents=True)
    write_wav(moved, 16000)  # in the archive already; the spool copy is gone; the row still says pending
    await archiver.run_once()
    row = await status(archiver, "c4a")
    assert (row["status"], row["path"], row["duration_s"]) == ("archived", str(moved), 2.0)


async def test_a_recording_reported_outside_the_spool_is_flagged_and_left_alone(rig, tmp_path):
    archiver, _clock, alerts = rig
    outside = tmp_path / "elsewhere.wav"
    write_wav(outside, 16000)
    await pending(archiver, "c5a", source_path=str(outside), stop_seen=True)
    await archiver.run_once()
    row = await status(archiver, "c5a")
    assert row["status"] == "broken"
    assert "outside the spool dir" in row["problem"]
    assert row["path"] is None
    assert outside.exists()
    assert [a.kind for a in alerts] == ["recording_refused"]


async def test_one_bad_row_does_not_hold_up_the_others(rig):
    archiver, _clock, alerts = rig
    await pending(archiver, "c6a", stop_seen=True, expected_s=60.0)  # far longer than the file
    await pending(archiver, "c6b", stop_seen=True)
    spool_wav(archiver, "c6a")
    spool_wav(archiver, "c6b")
    await archiver.run_once()
    assert (await status(archiver, "c6a"))["status"] == "broken"
    assert (await status(archiver, "c6b"))["status"] == "archived"
    assert "does not match the call's talk time 60.0 s" in alerts[0].message


async def test_stop_archives_what_the_last_calls_left_and_then_returns(rig):
    archiver, _clock, alerts = rig
    parts = PartTasks()
    await archiver.start(parts)
    await pending(archiver, "c7a", stop_seen=True)  # committed by the engine's last flush
    spool_wav(archiver, "c7a")
    parts.stopping()  # what the daemon does before it stops its parts
    await asyncio.wait_for(archiver.stop(), timeout=30)
    assert parts.failure is None  # the loop ended because it was stopped, not by itself
    assert (await status(archiver, "c7a"))["status"] == "archived"
    assert alerts == []
