"""A full disk at SIGTERM loses no outcome: what the database cannot take goes to the outcome journal beside
it (0600, fsynced, in space reserved at start), and the next start records it before reconciliation,
exactly once, also after a crash in the middle of applying it.

The disk is real: the database lives on a small tmpfs that the test fills to the last byte, so every
write the daemon tries fails with ENOSPC from the kernel (no mock of SQLite). The outcomes are checked
against the simulator's own record of what each call did, and the MQTT outbox (a tx hook) shows that
nothing was recorded twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sqlite3
import stat
import sys
from pathlib import Path
from typing import Any

from dialer.store.journal import OutcomeJournal, journal_path
from tests.ops.disk import fill, small_disk
from tests.ops.helpers import SECRET, DaemonProcess, import_leads, query, run_cli, sim_log, until, write_config

ANSWERED = [f"+1415555010{i}" for i in range(8)]
OPTOUTS = [f"+1415555019{i}" for i in range(4)]
# Long enough to be live when the disk fills and the SIGTERM comes; the opt-out key is pressed after that.
PROFILE = {"rules": [
    {"match": r"9\d$", "outcome": "optout", "ring_s": 0.2, "dtmf_s": 3.0, "talk_s": 6.0, "recording": "omit"},
    {"match": ".", "outcome": "answered", "ring_s": 0.2, "talk_s": 6.0, "recording": "omit"},
]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config_for(folder: Path, sim_port: int, mqtt_port: int, database: Path | None = None) -> Path:
    """One campaign, MQTT on (its broker is away: every event stays in the outbox, one row per event)."""
    config = write_config(folder, sim_port, concurrent=20, extra=f"""
[mqtt]
enabled = true
port = {mqtt_port}
commands = false
reconnect_max_s = 1.0
[mqtt.outbox]
stop_timeout_s = 0
""")
    text = config.read_text().replace("drain_timeout_s = 20", "drain_timeout_s = 9")
    if database is not None:
        text = text.replace('path = "dialer.db"', f'path = "{database}"')
    config.write_text(text)
    return config


def ended_events(db: Path) -> dict[str, int]:
    """Outbox rows of `ended` call events, per call id."""
    counts: dict[str, int] = {}
    for row in query(db, "SELECT payload FROM outbox WHERE topic LIKE '%/calls/%'"):
        payload = json.loads(row["payload"])
        if payload.get("state") == "ended":
            counts[payload["call_id"]] = counts.get(payload["call_id"], 0) + 1
    return counts


def outcomes(db: Path) -> dict[str, str | None]:
    return {r["number"]: r["disposition"] for r in query(db, "SELECT number, disposition FROM attempts")}


def optout_entries(db: Path) -> list[dict[str, Any]]:
    return query(db, "SELECT number, source, removed_at FROM dnc_entries WHERE list = 'optout'")


def check_recorded_once(db: Path, sim_ends: int) -> None:
    """Every call's true outcome, each final event once, each opt-out on the DNC list once."""
    got = outcomes(db)
    assert {n: got[n] for n in ANSWERED} == dict.fromkeys(ANSWERED, "answered")
    assert {n: got[n] for n in OPTOUTS} == dict.fromkeys(OPTOUTS, "opted_out")
    assert not query(db, "SELECT 1 FROM attempts WHERE state <> 'ended'")
    events = ended_events(db)
    assert len(events) == sim_ends == 12
    assert set(events.values()) == {1}, events
    entries = optout_entries(db)
    assert sorted(e["number"] for e in entries) == sorted(OPTOUTS)
    assert all(e["source"].startswith("call:") and e["removed_at"] is None for e in entries)
    assert len(query(db, "SELECT id FROM outcome_journals")) == 1


CRASHING_START = """
import os, sys
from dialer.store import journal
if sys.argv[1] == "after-commit":
    # Dies after the journal's transaction committed, before the file is cleared.
    journal.OutcomeJournal.reset = lambda self: os._exit(9)
else:
    # Dies inside the journal's transaction, after its outcomes and opt-outs were written, before COMMIT.
    original = journal.compliance_store.add_dnc
    async def add_then_die(*args, **kwargs):
        await original(*args, **kwargs)
        os._exit(9)
    journal.compliance_store.add_dnc = add_then_die
from dialer.cli import main
sys.argv = ["dialer", "run", "--config", sys.argv[2]]
main()
"""


async def crash_while_applying(config: Path, where: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASHING_START, where, str(config), env={**os.environ, "DIALER_AMI_SECRET": SECRET},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    assert await asyncio.wait_for(process.wait(), 60) == 9


async def start_settle_stop(config: Path, log_name: str) -> DaemonProcess:
    daemon = await DaemonProcess(config, log_name=log_name).start()
    try:
        await daemon.wait_for_log("ami_connected")
        assert await daemon.stop() == 0
    finally:
        await daemon.kill()
    return daemon


def no_traceback(daemon: DaemonProcess) -> None:
    text = daemon.log_path.read_text()
    assert "Traceback" not in text
    assert not [line for line in daemon.lines() if "exception" in line], "a log line carries an exception"


async def test_a_full_disk_at_stop_loses_no_outcome_and_the_journal_is_applied_exactly_once(tmp_path, make_sim):
    sim = await make_sim(PROFILE)
    mqtt_port = free_port()
    with small_disk(tmp_path / "disk", size_mb=64) as disk:
        db = disk / "dialer.db"
        config = config_for(tmp_path, sim.port, mqtt_port, database=db)
        await import_leads(config, ANSWERED + OPTOUTS)
        daemon = await DaemonProcess(config).start()
        try:
            await until(lambda: len(query(db, "SELECT 1 FROM attempts WHERE state = 'answered'")) == 12, 60,
                        "12 calls answered and recorded")
            # The daemon's WAL checkpointed and emptied, then the disk filled: its next commit needs a block.
            conn = sqlite3.connect(db, timeout=30)
            assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
            conn.close()
            filler = fill(disk)
            daemon.signal(15)
            code = await daemon.wait(90)
        finally:
            await daemon.kill()
        assert code == 74  # EX_IOERR: stopped with the database unwritable
        assert len(sim_log(tmp_path / "sim.jsonl", "end")) == 12  # every call ended while the disk was full
        journaled = daemon.events("outcomes_journaled")
        assert len(journaled) == 1, daemon.log_path.read_text()[-3000:]
        assert journaled[0]["finals"] == 12
        assert journaled[0]["optouts"] == 4
        assert "database or disk is full" in journaled[0]["error"]
        no_traceback(daemon)
        journal = journal_path(db)
        assert stat.S_IMODE(journal.stat().st_mode) == 0o600
        # Before the journal: no outcome on disk, every attempt still open.
        assert set(outcomes(db).values()) == {None}

        # Two copies of the stopped node (database + journal), each crashed while applying it.
        copies = {}
        for where in ("after-commit", "in-transaction"):
            folder = tmp_path / where
            folder.mkdir()
            for file in disk.glob("dialer.db*"):
                shutil.copy2(file, folder / file.name)
            copies[where] = config_for(folder, sim.port, mqtt_port)
        filler.unlink()  # the admin frees space

        daemon = await start_settle_stop(config, "after.log")
        check_recorded_once(db, len(sim_log(tmp_path / "sim.jsonl", "end")))
        assert OutcomeJournal(db).read() is None  # cleared, its space kept
        assert journal.stat().st_size > 0
    applied = daemon.events("journal_applied")
    assert len(applied) == 1
    assert (applied[0]["finals"], applied[0]["recorded"], applied[0]["optouts_added"]) == (12, 12, 4)
    assert applied[0]["complete"] is True
    assert applied[0]["damaged_lines"] == 0
    names = [line.get("event") for line in daemon.lines()]
    assert names.index("journal_applied") < names.index("ami_connected")  # before any reconciliation
    assert "restored_live_attempts" not in names  # nothing left open to reconcile
    no_traceback(daemon)

    for where, copy in copies.items():
        copy_db = copy.parent / "dialer.db"
        await crash_while_applying(copy, where)
        if where == "in-transaction":  # rolled back: nothing of it in the database, the file whole
            assert set(outcomes(copy_db).values()) == {None}
            assert not optout_entries(copy_db)
        assert OutcomeJournal(copy_db).read() is not None
        again = await start_settle_stop(copy, "restart.log")
        expected = "journal_already_applied" if where == "after-commit" else "journal_applied"
        assert again.events(expected), again.log_path.read_text()[-2000:]
        check_recorded_once(copy_db, 12)
        assert OutcomeJournal(copy_db).read() is None

    originate = sim_log(tmp_path / "sim.jsonl", "originate")
    assert len(originate) == 12  # nobody dialled again: not the answered, not the opted out
    code, stdout, _ = await run_cli("check", OPTOUTS[0], "--config", str(copies["after-commit"]),
                                    "--campaign", "c1", "--format", "json")
    assert code == 1
    assert json.loads(stdout)["verdict"] == "block"


async def test_the_journal_file_round_trips_and_a_torn_line_is_skipped_not_applied(tmp_path):
    from dialer.events import CallEvent
    from dialer.outcome import Disposition
    from dialer.store.calls import FinalUpdate, StateUpdate
    from dialer.store.journal import HeldChange, HeldOptout, HeldOutcomes
    from dialer.tracker import CallState

    final = FinalUpdate("c1", 1, Disposition.ANSWERED, 4, 16, 10.0, 2.0, 8.0, "", "Local/x;1", "u1")
    held = HeldOutcomes(
        changes=(
            HeldChange(CallEvent("c2", 2, 2, "camp", "+14155550101", CallState.ANSWERED, 3.0, 1.0, 3.0),
                       state=StateUpdate("c2", "answered", 3.0)),
            HeldChange(CallEvent("c1", 1, 1, "camp", "+14155550100", CallState.ENDED, 10.0, 1.0, 2.0,
                                 Disposition.ANSWERED, 4, 16, 8.0), final=final),
        ),
        optouts=(HeldOptout("+14155550102", "camp", "c3"),),
    )
    journal = OutcomeJournal(tmp_path / "dialer.db")
    journal.reserve(64 * 1024)
    assert journal.path.stat().st_size == 64 * 1024
    assert journal.read() is None  # reserved space is not a journal
    assert journal.write(held, node="n", now=11.0) == 3
    back = journal.read()
    assert back is not None
    assert back.complete
    assert back.damaged_lines == 0
    assert set(back.held.changes) == set(held.changes)  # finals are written first
    assert back.held.optouts == held.optouts
    assert journal.path.stat().st_size == 64 * 1024  # written inside the reservation
    # A line torn by a crash (a byte changed) fails its checksum: skipped, the others still count.
    data = bytearray(journal.path.read_bytes())
    at = data.index(b'"optout"')
    data[at + 2] ^= 0x01
    journal.path.write_bytes(bytes(data))
    torn = journal.read()
    assert torn is not None
    assert torn.damaged_lines == 1
    assert torn.held.optouts == ()
    assert set(torn.held.changes) == set(held.changes)
    journal.reset()
    assert journal.read() is None
    assert journal.path.stat().st_size == 64 * 1024  # the space stays reserved
