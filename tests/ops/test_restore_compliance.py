"""A restore never undoes what protects a person: erasures, opt-outs, DNC changes and consent
revocations made after the backup are re-applied from the compliance journal beside the database
(and listed), or the restore is refused with the reason. Real commands in their own processes, a
real daemon and simulator for the opt-out, real SQLite files; verdicts from `dialer check`."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from dialer.ops.backup import restore
from dialer.store import Database
from dialer.store import compliance as store
from dialer.store.compliance_journal import journal_path
from tests.ops.helpers import DaemonProcess, query, run_cli, sim_log, until, write_config

ERASED = "+14155550142"
OTHER = "+14155550143"
# The simulator's default callees: a number ending in 90 answers and presses the opt-out key.
OPTOUT = "+14155550190"


async def cli(config: Path, *args: str) -> tuple[int, str, str]:
    return await run_cli(*args, "--config", str(config))


async def ok(config: Path, *args: str) -> str:
    code, stdout, stderr = await cli(config, *args)
    assert code == 0, (args, stdout, stderr)
    return stdout


async def verdict(config: Path, number: str) -> tuple[str, set[str]]:
    """`dialer check NUMBER --campaign c1`: the verdict and the rules that blocked."""
    code, stdout, stderr = await cli(config, "check", number, "--campaign", "c1", "--format", "json")
    assert code in (0, 1), stderr
    data = json.loads(stdout)
    assert (code == 1) == (data["verdict"] == "block")
    return data["verdict"], {r["rule"] for r in data["rules"] if r["verdict"] == "block"}


async def setup(tmp_path: Path, *numbers: str, port: int = 5038) -> Path:
    config = write_config(tmp_path, port)
    leads = tmp_path / "leads.csv"
    leads.write_text("phone,first_name,last_name\n" + "".join(f"{n},Ada{i},Lovelace{i}\n"
                                                             for i, n in enumerate(numbers)))
    await ok(config, "import", "c1", str(leads))
    await verdict(config, numbers[0])  # the first look at the gate makes the database's hash key
    return config


def every_text(db: Path) -> str:
    """The whole database as SQL text (every table, every value)."""
    conn = sqlite3.connect(db)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def forms(e164: str) -> list[str]:
    return [e164, e164[1:], e164[2:], "415-555-0142", "(415) 555-0142"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_backup_forget_restore_keeps_the_person_erased_and_never_called(tmp_path):
    config = await setup(tmp_path, ERASED, OTHER)
    db = tmp_path / "dialer.db"
    await ok(config, "backup", str(tmp_path / "backup.db"))
    # Before the erasure the journal holds the number in clear (a DNC entry must be re-applicable)...
    await ok(config, "dnc", "add", ERASED, "--source", "asked by phone")  # a source never holds a number
    await ok(config, "consent", "revoke", ERASED)
    journal = journal_path(db)
    assert ERASED in journal.read_text()
    await ok(config, "forget", ERASED, "--yes", "--by", "dpo")
    assert await verdict(config, ERASED) == ("block", {"dnc.erased"})
    assert mode(journal) in (0o600, 0o640)
    for form in forms(ERASED):
        assert form not in journal.read_text()  # ...after it, only its keyed hash

    out = await ok(config, "restore", str(tmp_path / "backup.db"))
    assert "re-applied 3 compliance change(s) made after the backup" in out
    assert "re-applied: " in out
    assert "DNC add (internal) of an erased number" in out
    assert "erasure of 1 number(s) by dpo" in out
    assert await verdict(config, ERASED) == ("block", {"dnc.erased"})
    assert await verdict(config, OTHER) == ("allow", set())
    text = every_text(db)
    for form in forms(ERASED):
        assert form not in text  # the backup's copy of the person is erased again
    assert "Ada0" not in text
    assert "Lovelace0" not in text
    assert "Ada1" in text  # the other person stays
    assert query(db, "SELECT kind, actor FROM audit WHERE kind = 'restore'") == [{"kind": "restore",
                                                                                  "actor": "restore"}]
    assert mode(db) == 0o640
    assert mode(journal) in (0o600, 0o640)
    # The same backup restored again: still erased (nothing in the journal is lost by a restore).
    out = await ok(config, "restore", str(tmp_path / "backup.db"))
    assert "erasure of 1 number(s)" in out
    assert await verdict(config, ERASED) == ("block", {"dnc.erased"})
    for form in forms(ERASED):
        assert form not in every_text(db)


async def test_backup_dnc_add_restore_is_still_blocked_and_a_removal_is_re_applied_too(tmp_path):
    config = await setup(tmp_path, ERASED, OTHER)
    await ok(config, "dnc", "add", OTHER)  # before the backup: in it
    await ok(config, "backup", str(tmp_path / "backup.db"))
    await ok(config, "dnc", "add", ERASED, "--source", "phoned in")
    await ok(config, "dnc", "remove", OTHER)
    out = await ok(config, "restore", str(tmp_path / "backup.db"))
    assert "re-applied 2 compliance change(s)" in out
    assert "DNC add (internal) of +14*******42" in out
    assert "DNC removal (internal) of +14*******43" in out
    assert ERASED not in out
    assert await verdict(config, ERASED) == ("block", {"dnc.internal"})
    assert await verdict(config, OTHER) == ("allow", set())
    listed = await ok(config, "dnc", "list", "--format", "json")
    assert len(json.loads(listed)["entries"]) == 1


async def test_consent_revoked_after_the_backup_stays_revoked(tmp_path):
    config = await setup(tmp_path, ERASED)
    await ok(config, "consent", "add", ERASED, "--source", "web form")
    await ok(config, "backup", str(tmp_path / "backup.db"))
    await ok(config, "consent", "revoke", ERASED, "--source", "said stop on the phone")
    assert "consent" in (await verdict(config, ERASED))[1]
    out = await ok(config, "restore", str(tmp_path / "backup.db"))
    assert "consent revocation of +14*******42 (all campaigns)" in out
    assert await verdict(config, ERASED) == ("block", {"consent"})
    listed = await ok(config, "consent", "list", ERASED)
    assert "revoked" in listed


async def test_an_opt_out_during_a_call_after_the_backup_survives_the_restore(tmp_path, make_sim):
    sim = await make_sim(None, time_scale=0.02)
    config = await setup(tmp_path, OPTOUT, port=sim.port)
    db = tmp_path / "dialer.db"
    await ok(config, "campaign", "pause", "c1")
    await ok(config, "backup", str(tmp_path / "backup.db"))
    await ok(config, "campaign", "resume", "c1")
    daemon = await DaemonProcess(config).start()
    try:
        await daemon.wait_for_log("optout_stored")
        await until(lambda: bool(query(db, "SELECT 1 FROM leads WHERE status NOT IN ('pending', 'dialing')")), 60,
                    "the call settled")
        assert await daemon.stop() == 0
    finally:
        await daemon.kill()
    assert len(sim_log(tmp_path / "sim.jsonl", "originate")) == 1
    out = await ok(config, "restore", str(tmp_path / "backup.db"))
    assert "DNC add (optout) of +14*******90 by dialer" in out
    assert await verdict(config, OPTOUT) == ("block", {"dnc.optout"})
    # The restored lead is pending again (the backup's state), but the gate blocks it: run the
    # daemon once more and the PBX sees no second call.
    await ok(config, "campaign", "resume", "c1")
    daemon = await DaemonProcess(config, log_name="after.log").start()
    try:
        await until(lambda: bool(query(db, "SELECT 1 FROM leads WHERE status = 'blocked'")), 60, "blocked")
        assert await daemon.stop() == 0
    finally:
        await daemon.kill()
    assert len(sim_log(tmp_path / "sim.jsonl", "originate")) == 1


async def test_a_lost_journal_refuses_the_restore_unless_accepted(tmp_path):
    config = await setup(tmp_path, ERASED)
    db = tmp_path / "dialer.db"
    await ok(config, "backup", str(tmp_path / "backup.db"))
    await ok(config, "dnc", "add", ERASED)
    journal_path(db).unlink()
    before = every_text(db)
    code, _, stderr = await cli(config, "restore", str(tmp_path / "backup.db"))
    assert code == 1
    assert "the compliance journal is incomplete" in stderr
    assert "--accept-journal-loss" in stderr
    assert len(stderr.strip().splitlines()) == 1  # one line, no traceback
    assert every_text(db) == before  # nothing replaced
    code, _, stderr = await cli(config, "restore", str(tmp_path / "backup.db"), "--accept-journal-loss")
    assert code == 0, stderr
    assert "changes made after the backup may be undone" in " ".join(stderr.split())


async def test_a_damaged_journal_line_refuses_the_restore_naming_it(tmp_path):
    config = await setup(tmp_path, ERASED, OTHER)
    db = tmp_path / "dialer.db"
    await ok(config, "backup", str(tmp_path / "backup.db"))
    await ok(config, "dnc", "add", ERASED)
    await ok(config, "dnc", "add", OTHER)
    journal = journal_path(db)
    lines = journal.read_text().splitlines(keepends=True)
    lines[0] = lines[0].replace('"list":"internal"', '"list":"campaign"')
    journal.write_text("".join(lines))
    code, _, stderr = await cli(config, "restore", str(tmp_path / "backup.db"))
    assert code == 1
    assert f"{journal}: line 1: not a journal entry (its checksum does not match" in stderr
    assert "restore refused" in stderr


async def test_a_change_that_rolled_back_is_not_re_applied_and_a_torn_last_line_is_ignored(tmp_path):
    config = await setup(tmp_path, ERASED, OTHER)
    db = tmp_path / "dialer.db"
    await ok(config, "backup", str(tmp_path / "backup.db"))
    async def fail_after_the_journal_line(handle: Database) -> None:
        stamp = store.ChangeStamp("test", time.time(), await handle.hash_key())
        async with handle.write() as tx:
            await store.add_dnc(tx, [store.NewDncEntry(ERASED, store.DncKind.INTERNAL, None, "x")], stamp)
            raise RuntimeError("the transaction fails after the journal line was written")

    async with Database.open(db) as handle:
        with pytest.raises(RuntimeError):
            await fail_after_the_journal_line(handle)
    journal = journal_path(db)
    assert journal.read_text().count("\n") == 1
    with journal.open("a") as handle:
        handle.write('{"v":1,"token":"cut sh')  # a crash in the middle of an append
    result = restore(tmp_path / "backup.db", db)
    assert result.reapplied == ()
    assert len(result.skipped) == 1
    assert result.skipped[0].endswith("DNC add (internal) of +14*******42 by test: its transaction never committed")
    assert any("cut short by a crash" in note for note in result.notes)
    assert await verdict(config, ERASED) == ("allow", set())


async def test_with_the_database_lost_blocks_are_re_applied_and_removals_are_reported(tmp_path):
    config = await setup(tmp_path, ERASED, OTHER)
    await ok(config, "dnc", "add", OTHER)
    await ok(config, "backup", str(tmp_path / "backup.db"))
    await ok(config, "dnc", "add", ERASED)
    await ok(config, "dnc", "remove", OTHER)
    for path in tmp_path.glob("dialer.db*"):
        if not path.name.endswith(".compliance.jsonl"):
            os.unlink(path)  # the disk lost the database; the journal beside it survived
    out = await ok(config, "restore", str(tmp_path / "backup.db"))
    assert "re-applied 1 compliance change(s)" in out
    assert "not re-applied: " in out
    assert "remove the entry again with `dialer dnc remove`" in out
    assert await verdict(config, ERASED) == ("block", {"dnc.internal"})
    assert await verdict(config, OTHER) == ("block", {"dnc.internal"})  # the safe side, and said so
