"""Data safety with real processes: one daemon per database, private files, secrets refused when
others can read them, `dialer backup` while dialing and `dialer restore` only while stopped."""

from __future__ import annotations

import os
import sqlite3
import stat
import time

import pytest

from dialer.ops.backup import BackupError, check_database_file
from dialer.ops.lock import DaemonLock, LockHeld, holder
from tests.ops.helpers import SECRET, DaemonProcess, import_leads, query, run_cli, sim_log, until, write_config

TALKING = {"rules": [{"match": ".", "outcome": "answered", "ring_s": 0.0, "talk_s": 1.0, "recording": "omit"}]}


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_second_daemon_on_the_same_database_is_refused_and_files_are_private(tmp_path, make_sim):
    sim = await make_sim(TALKING)
    config = write_config(tmp_path, sim.port, concurrent=3)
    await import_leads(config, [f"+1415555{i:04d}" for i in range(6)])
    db = tmp_path / "dialer.db"
    os.chmod(db, 0o644)  # as an older version or a careless copy left it
    old_umask = os.umask(0o022)  # the daemon must not rely on the caller's umask
    try:
        first = await DaemonProcess(config, log_name="first.log").start()
    finally:
        os.umask(old_umask)
    try:
        await first.wait_for_log("ami_connected")
        second = await DaemonProcess(config, log_name="second.log").start()
        assert await second.wait(60) == 75  # EX_TEMPFAIL: another daemon uses this database
        refused = second.events("already_running")
        assert refused
        assert refused[0]["pid"] == first.pid
        assert holder(db) == first.pid
        await until(lambda: len(sim_log(tmp_path / "sim.jsonl", "originate")) >= 3, 30, "dialing")
        tightened = first.events("permissions_tightened")
        assert [t["old"] for t in tightened if t["path"] == str(db)] == ["0644"]
        for path in (db, tmp_path / "dialer.db-wal", tmp_path / "dialer.db-shm", tmp_path / "dialer.db.lock"):
            assert mode(path) & 0o007 == 0, f"{path.name} is {mode(path):04o}"
        assert await first.stop() == 0
    finally:
        await first.kill()
    assert holder(db) is None  # released at exit


async def test_run_refuses_a_credential_other_users_can_read(tmp_path):
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "ami-secret").write_text(SECRET + "\n")
    os.chmod(credentials / "ami-secret", 0o644)
    config = write_config(tmp_path, 5038)
    config.write_text(config.read_text().replace('secret_env = "DIALER_AMI_SECRET"', 'secret_env = "NO_SUCH_VAR"'))
    code, _, stderr = await run_cli("run", "--config", str(config), env={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert code == 78  # EX_CONFIG
    assert f"{credentials / 'ami-secret'} is readable by other users (mode 0644)" in stderr
    assert SECRET not in stderr
    assert not (tmp_path / "dialer.db").exists()  # refused before touching anything


def test_the_lock_is_exclusive_and_dies_with_its_holder(tmp_path):
    db = tmp_path / "x.db"
    with DaemonLock(db):
        assert holder(db) == os.getpid()
        with pytest.raises(LockHeld) as caught:
            DaemonLock(db).acquire()
        assert caught.value.pid == os.getpid()
    assert holder(db) is None
    DaemonLock(db).acquire()  # free again (the previous holder closed it)


async def test_backup_while_dialing_restore_refused_while_running_then_restored_and_reconciled(tmp_path, make_sim):
    sim = await make_sim(TALKING)
    config = write_config(tmp_path, sim.port, concurrent=4, rate=50)
    await import_leads(config, [f"+1212555{i:04d}" for i in range(16)])
    db = tmp_path / "dialer.db"
    backup = tmp_path / "backups" / "dialer-1.db"
    backup.parent.mkdir()
    daemon = await DaemonProcess(config).start()
    try:
        await until(lambda: sim.live_call_count >= 4 and len(sim_log(tmp_path / "sim.jsonl", "end")) >= 4, 60,
                    "calls ending and calls up")
        code, stdout, stderr = await run_cli("backup", str(backup), "--config", str(config))
        assert code == 0, stderr
        assert f"backup written: {backup}" in stdout
        info = check_database_file(backup)
        assert info.open_attempts >= 1  # a copy of a database in use, calls up
        open_ids = [r["call_id"] for r in query(backup, "SELECT call_id FROM attempts WHERE state <> 'ended'")]
        assert mode(backup) == 0o600
        code, _, stderr = await run_cli("restore", str(backup), "--config", str(config))
        assert code == 1
        assert f"the dialer daemon (pid {daemon.pid}) is running on {db}" in stderr
        assert await daemon.stop() == 0
    finally:
        await daemon.kill()
    finished = query(db, "SELECT COUNT(*) AS n FROM attempts")[0]["n"]
    assert finished > info.attempts

    code, stdout, stderr = await run_cli("restore", str(backup), "--config", str(config))
    assert code == 0, stderr
    assert "the database as it was is kept in" in stdout
    assert "attempts were live when the backup was taken" in stderr
    assert query(db, "SELECT COUNT(*) AS n FROM attempts")[0]["n"] == info.attempts
    kept = next(tmp_path.glob("dialer.db.before-restore-*"))
    assert query(kept, "SELECT COUNT(*) AS n FROM attempts")[0]["n"] == finished
    assert not (tmp_path / "dialer.db-wal").exists() or query(db, "PRAGMA integrity_check")[0]

    # The restored database's open attempts are reconciled like after a crash; nothing dialled twice.
    daemon = await DaemonProcess(config, log_name="after-restore.log").start()
    try:
        restored = await daemon.wait_for_log("restored_live_attempts")
        assert restored["count"] == info.open_attempts
        # Settled: nothing live, nothing due (the unknown ones wait for their retry delay, 600 s).
        await until(lambda: not query(db, "SELECT 1 FROM attempts WHERE state <> 'ended'") and not query(
            db, "SELECT 1 FROM leads WHERE status = 'dialing' OR (status = 'pending' AND next_attempt_at <= ?)",
            (time.time(),)), 90, "settled")
        assert await daemon.stop() == 0
    finally:
        await daemon.kill()
    call_ids = [o["action_id"] for o in sim_log(tmp_path / "sim.jsonl", "originate")]
    assert len(call_ids) == len(set(call_ids))
    marks = ",".join("?" * len(open_ids))
    reconciled = query(db, f"SELECT disposition FROM attempts WHERE call_id IN ({marks})", tuple(open_ids))
    assert {r["disposition"] for r in reconciled} <= {"unknown_after_restart", "answered"}


async def test_restore_validates_the_file(tmp_path):
    config = write_config(tmp_path, 5038)
    junk = tmp_path / "junk.db"
    junk.write_text("not a database at all, just text of some length to look like a file\n" * 10)
    code, _, stderr = await run_cli("restore", str(junk), "--config", str(config))
    assert code == 1
    assert "not an SQLite database" in stderr
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    code, _, stderr = await run_cli("restore", str(other), "--config", str(config))
    assert code == 1
    assert "not a dialer database" in stderr
    code, _, stderr = await run_cli("backup", str(tmp_path / "b.db"), "--config", str(config))
    assert code == 1
    assert "no database here" in stderr
    with pytest.raises(BackupError, match="cannot read"):
        check_database_file(tmp_path / "missing.db")
