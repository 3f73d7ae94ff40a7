"""The outcome journal is kept current during a storage outage, not only written at a graceful stop:
every flush that fails on the database rewrites it with what the daemon holds, so a SIGKILL while the
disk is full loses no outcome (the next start applies the journal), and when the database works again
the journal is cleared, so nothing is recorded twice. A real full tmpfs (ENOSPC from the kernel), the
daemon as a process, outcomes checked against the simulator's own log."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from dialer.config import Config
from dialer.store.journal import OutcomeJournal
from tests.ops.disk import fill, small_disk
from tests.ops.helpers import DaemonProcess, import_leads, query, sim_log, until
from tests.ops.test_outcome_journal import (
    ANSWERED,
    OPTOUTS,
    PROFILE,
    check_recorded_once,
    config_for,
    ended_events,
    free_port,
    no_traceback,
    optout_entries,
    outcomes,
    start_settle_stop,
)


def journal_holds_every_final(daemon: DaemonProcess) -> bool:
    return any(e.get("finals") == 12 and e.get("optouts") == 4 for e in daemon.events("outcomes_journal_updated"))


async def fill_while_calls_are_up(daemon: DaemonProcess, db: Path) -> Path:
    """Wait for the 12 calls to be answered and recorded, then fill the disk under the database."""
    await until(lambda: len(query(db, "SELECT 1 FROM attempts WHERE state = 'answered'")) == 12, 60,
                "12 calls answered and recorded")
    conn = sqlite3.connect(db, timeout=30)
    assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0  # the next commit needs a block
    conn.close()
    return fill(db.parent)


@dataclass
class Outage:
    """A daemon dialing on a database whose disk was filled while its 12 calls were up."""

    config: Config
    db: Path
    daemon: DaemonProcess
    filler: Path


@contextlib.asynccontextmanager
async def storage_outage(tmp_path: Path, make_sim) -> AsyncIterator[Outage]:
    """The daemon killed on the way out (no drain); the small disk is gone after the block."""
    sim = await make_sim(PROFILE)
    with small_disk(tmp_path / "disk", size_mb=64) as disk:
        db = disk / "dialer.db"
        config = config_for(tmp_path, sim.port, free_port(), database=db)
        await import_leads(config, ANSWERED + OPTOUTS)
        daemon = await DaemonProcess(config).start()
        try:
            filler = await fill_while_calls_are_up(daemon, db)
            yield Outage(config, db, daemon, filler)
        finally:
            await daemon.kill()


async def test_sigkill_during_a_storage_outage_loses_no_outcome(tmp_path, make_sim):
    async with storage_outage(tmp_path, make_sim) as outage:
        db, daemon = outage.db, outage.daemon
        await until(lambda: len(sim_log(tmp_path / "sim.jsonl", "end")) == 12, 60, "every call ended (PBX)")
        await until(lambda: journal_holds_every_final(daemon), 60, "the journal holding all 12 outcomes")
        await daemon.kill()  # no drain, no stop: what the journal holds is all there is
        assert set(outcomes(db).values()) == {None}  # nothing of it reached the database
        held = OutcomeJournal(db).read()
        assert held is not None
        assert (held.held.finals, len(held.held.optouts), held.complete) == (12, 4, True)
        no_traceback(daemon)
        outage.filler.unlink()  # the admin frees space
        after = await start_settle_stop(outage.config, "after.log")
        check_recorded_once(db, len(sim_log(tmp_path / "sim.jsonl", "end")))
        assert OutcomeJournal(db).read() is None
    [applied] = after.events("journal_applied")
    assert (applied["finals"], applied["recorded"], applied["optouts_added"]) == (12, 12, 4)
    assert len(sim_log(tmp_path / "sim.jsonl", "originate")) == 12  # nobody dialled again


async def test_when_the_database_works_again_the_journal_is_cleared_and_nothing_recorded_twice(tmp_path, make_sim):
    async with storage_outage(tmp_path, make_sim) as outage:
        db, daemon = outage.db, outage.daemon
        await until(lambda: journal_holds_every_final(daemon), 60, "the journal holding all 12 outcomes")
        outage.filler.unlink()
        await daemon.wait_for_log("journal_cleared")
        assert OutcomeJournal(db).read() is None
        await daemon.kill()  # even a crash now: the database has it all, the journal nothing
        after = await start_settle_stop(outage.config, "after.log")
        assert not after.events("journal_applied")
        got = outcomes(db)
        assert {n: got[n] for n in ANSWERED} == dict.fromkeys(ANSWERED, "answered")
        assert {n: got[n] for n in OPTOUTS} == dict.fromkeys(OPTOUTS, "opted_out")
        assert set(ended_events(db).values()) == {1}
        assert sorted(e["number"] for e in optout_entries(db)) == sorted(OPTOUTS)
        assert query(db, "SELECT id FROM outcome_journals") == []
    no_traceback(daemon)
    assert len(sim_log(tmp_path / "sim.jsonl", "originate")) == 12
