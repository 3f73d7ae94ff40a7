"""A database backs up from its first minute: `dialer init` or a first `dialer import` makes it, a
backup of it is checked and written, and the restored copy is one a daemon dials from. (Before, a
database had no number hash key until the daemon's first gate decision, and backup refused it.)
Real commands in their own processes, a real daemon against the simulator over TCP."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.ops.helpers import DaemonProcess, import_leads, query, run_cli, sim_log, until, write_config

LEADS = ["+14155550101", "+14155550102"]


async def cli(config: Path, *args: str) -> tuple[int, str, str]:
    return await run_cli(*args, "--config", str(config))


def hash_key(db: Path) -> str | None:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'number_hash_key'").fetchone()
    finally:
        conn.close()
    return row[0] if row else None


async def test_init_backup_restore_then_the_daemon_dials_from_the_restored_database(tmp_path, make_sim):
    sim = await make_sim(None, time_scale=0.02)
    config = write_config(tmp_path, sim.port)
    db = tmp_path / "dialer.db"
    assert (await cli(config, "init"))[0] == 0
    code, out, err = await cli(config, "backup", str(tmp_path / "fresh.db"))
    assert code == 0, err
    assert "backup written" in out
    await import_leads(config, LEADS)
    code, out, err = await cli(config, "restore", str(tmp_path / "fresh.db"))
    assert code == 0, err
    assert query(db, "SELECT COUNT(*) AS n FROM leads") == [{"n": 0}]  # the empty database it was
    await import_leads(config, LEADS)
    daemon = await DaemonProcess(config).start()
    try:
        await until(lambda: len(query(db, "SELECT 1 FROM leads WHERE status NOT IN ('pending', 'dialing')")) == 2,
                    60, "both leads settled")
        assert await daemon.stop() == 0
    finally:
        await daemon.kill()
    channels = sorted(r["channel"] for r in sim_log(tmp_path / "sim.jsonl", "originate"))
    assert channels == [f"Local/{n[1:]}@callees" for n in LEADS]  # each lead dialled once


async def test_a_database_a_first_import_created_backs_up_at_once(tmp_path):
    config = write_config(tmp_path, 1)
    await import_leads(config, LEADS)  # creates the database (no `dialer init`)
    assert hash_key(tmp_path / "dialer.db") is not None
    code, out, err = await cli(config, "backup", str(tmp_path / "first.db"))
    assert code == 0, err
    assert "2 leads" in out
    assert hash_key(tmp_path / "first.db") == hash_key(tmp_path / "dialer.db")


async def test_an_older_database_without_a_key_says_how_to_add_one_naming_the_database(tmp_path):
    config = write_config(tmp_path, 1)
    await import_leads(config, LEADS)
    db = tmp_path / "dialer.db"
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DELETE FROM meta WHERE key = 'number_hash_key'")  # as one made before the key came
    conn.close()
    code, _, err = await cli(config, "backup", str(tmp_path / "old.db"))
    assert code == 1
    assert str(db) in err
    assert ".tmp-" not in err  # the file a person knows, not the copy's temporary name
    assert "dialer init" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "old.db").exists()
    assert (await cli(config, "init"))[0] == 0  # adds the key, changes nothing else
    code, _, err = await cli(config, "backup", str(tmp_path / "old.db"))
    assert code == 0, err
