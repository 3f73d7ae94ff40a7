"""How `dialer run` (and every command) fails at start, as a PBX admin meets it: one log line that says what
to do, a distinct exit status for each kind of failure (dialer.ops.exit_codes), no traceback anywhere,
and the file it refused left exactly as it was. Each damaged file is a real database damaged for real."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from dialer.store.db import DIALER_APPLICATION_ID
from tests.ops.disk import fill, small_disk
from tests.ops.helpers import SECRET, DaemonProcess, run_cli, sim_log, write_config
from tests.store.test_database_files import DAMAGE, PAGE, make_database

ENV = {"DIALER_AMI_SECRET": SECRET}
NUMBER = "+14155550123"


def json_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append({"event": "<not json>", "text": line})
    return out


def deep_page(p: Path) -> None:
    """A damaged page in the middle of the audit table: only a full read (quick_check) finds it at start."""
    data = bytearray(p.read_bytes())
    middle = (len(data) // PAGE // 2) * PAGE
    data[middle:middle + PAGE] = random.Random(9).randbytes(PAGE)
    p.write_bytes(bytes(data))


def empty(p: Path) -> None:
    p.write_bytes(b"")


def without_schema(p: Path) -> None:
    p.unlink()
    conn = sqlite3.connect(p)
    conn.execute("VACUUM")
    conn.close()


def another_programs(p: Path) -> None:
    p.unlink()
    conn = sqlite3.connect(p)
    conn.execute("PRAGMA application_id = 1234")
    conn.execute("CREATE TABLE meta (key, value)")
    conn.commit()
    conn.close()


RUN_CASES: dict[str, tuple[Any, str]] = {
    **{kind: (damage, message) for kind, (damage, message) in DAMAGE.items()},
    "malformed page deep in the file": (deep_page, "the database is damaged (database disk image is malformed)"),
    "empty file": (empty, "is an empty file (0 bytes)"),
    "no schema": (without_schema, "an SQLite database without the dialer's schema"),
    "another program's database": (another_programs, "an SQLite database of another program"),
}


async def a_damaged_database(tmp_path: Path, kind: str) -> tuple[Path, Path, bytes]:
    config = write_config(tmp_path, 5038)
    path = await make_database(tmp_path / "dialer.db", rows=5000)
    RUN_CASES[kind][0](path)
    return config, path, path.read_bytes()


@pytest.mark.parametrize("kind", sorted(RUN_CASES))
async def test_run_refuses_an_unusable_database_with_one_line_and_exit_65(tmp_path, kind):
    config, path, before = await a_damaged_database(tmp_path, kind)
    code, stdout, stderr = await run_cli("run", "--config", str(config), env=ENV, timeout=60)
    assert code == 65, stdout + stderr
    errors = [line for line in json_lines(stdout) if line.get("level") == "error"]
    assert len(errors) == 1, stdout
    [line] = errors
    assert line["event"] == "database_unusable"
    assert line["exit_code"] == 65
    assert line["error"].startswith(f"{path}: ")
    assert RUN_CASES[kind][1] in line["error"]
    assert "restore from a backup with `dialer restore FILE`" in line["error"]
    assert "Traceback" not in stdout + stderr
    assert stderr == ""
    assert path.read_bytes() == before  # nothing re-initialised, nothing "repaired"
    assert not path.with_name("dialer.db.outcome-journal").exists()  # refused before anything was written


async def test_run_without_a_database_says_dialer_init_and_init_creates_it(tmp_path, make_sim):
    sim = await make_sim()
    config = write_config(tmp_path, sim.port)
    path = tmp_path / "dialer.db"
    code, stdout, stderr = await run_cli("run", "--config", str(config), env=ENV, timeout=60)
    assert code == 66
    [line] = [line for line in json_lines(stdout) if line.get("level") == "error"]
    assert line["event"] == "database_missing"
    assert line["error"] == (f"{path}: no database here; create it with `dialer init` (or restore from a backup "
                             "with `dialer restore FILE`)")
    assert not path.exists()
    assert "Traceback" not in stdout + stderr

    code, stdout, stderr = await run_cli("init", "--config", str(config))
    assert code == 0, stderr
    assert f"created the database {path}" in stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == DIALER_APPLICATION_ID
    conn.close()
    code, stdout, _ = await run_cli("init", "--config", str(config))
    assert code == 0
    assert "already a dialer database" in stdout
    assert "nothing replaced" in stdout

    daemon = await DaemonProcess(config).start()
    try:
        await daemon.wait_for_log("ami_connected")
        assert await daemon.stop() == 0
    finally:
        await daemon.kill()


@pytest.mark.parametrize("kind", ["empty file", "garbage", "another program's database"])
async def test_init_never_replaces_a_file_that_is_there(tmp_path, kind):
    config, path, before = await a_damaged_database(tmp_path, kind)
    code, stdout, stderr = await run_cli("init", "--config", str(config))
    assert code == 1
    assert stderr.startswith(f"error: {path}: ")
    assert len(stderr.strip().splitlines()) == 1
    assert "Traceback" not in stdout + stderr
    assert path.read_bytes() == before


READERS = [
    ["status"], ["report", "--format", "json"], ["campaign", "list"], ["campaign", "pause", "c1"],
    ["check", NUMBER], ["scrub", "c1"], ["dnc", "list"], ["dnc", "add", NUMBER], ["consent", "list", NUMBER],
    ["consent", "add", NUMBER, "--source", "form"], ["audit", "export", "--format", "json"],
    ["contact", "search", "--name", "x"], ["forget", NUMBER, "--yes"], ["callback", NUMBER, "--at", "1h"],
    ["recordings", "missing"], ["import", "c1", "LEADS"],
]


@pytest.mark.parametrize("kind", ["empty file", "garbage"])
async def test_every_command_that_reads_the_database_refuses_it_with_one_line(tmp_path, kind):
    config, path, before = await a_damaged_database(tmp_path, kind)
    leads = tmp_path / "leads.csv"
    leads.write_text(f"phone\n{NUMBER}\n")
    for command in READERS:
        args = [str(leads) if a == "LEADS" else a for a in command]
        code, stdout, stderr = await run_cli(*args, "--config", str(config))
        assert code == 1, (command, code, stderr)  # commands: 1 failure, 2 usage; `dialer run` has the table
        assert len(stderr.strip().splitlines()) == 1, (command, stderr)
        assert str(path) in stderr, (command, stderr)
        assert "Traceback" not in stdout + stderr, command
    assert path.read_bytes() == before


async def test_only_init_import_and_demo_create_a_database(tmp_path):
    config = write_config(tmp_path, 5038)
    path = tmp_path / "dialer.db"
    leads = tmp_path / "leads.csv"
    leads.write_text(f"phone\n{NUMBER}\n")
    for command in READERS:
        if command[0] == "import":
            continue
        code, _, stderr = await run_cli(*command, "--config", str(config))
        assert code == 1, (command, code, stderr)
        assert "no database here; create it with `dialer init`" in stderr, command
        assert not path.exists(), command
    code, _, stderr = await run_cli("import", "c1", str(leads), "--config", str(config))
    assert code == 0, stderr
    assert path.exists()


async def test_a_damaged_page_a_command_reaches_underway_is_one_line_too(tmp_path):
    config, _path, _ = await a_damaged_database(tmp_path, "malformed page deep in the file")
    code, stdout, stderr = await run_cli("audit", "export", "--format", "json", "--config", str(config))
    assert code == 1, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "database disk image is malformed" in stderr
    assert "Traceback" not in stdout + stderr


async def test_a_refused_ami_login_exits_77(tmp_path, make_sim):
    sim = await make_sim()
    config = write_config(tmp_path, sim.port)
    code, _, _ = await run_cli("init", "--config", str(config))
    assert code == 0
    code, stdout, stderr = await run_cli("run", "--config", str(config), env={"DIALER_AMI_SECRET": "wrong"},
                                         timeout=60)
    assert code == 77
    [line] = [line for line in json_lines(stdout) if line.get("level") == "error"]
    assert line["event"] == "ami_login_refused"
    assert "check the manager.conf user and the secret" in line["error"]
    assert "wrong" not in stdout + stderr
    assert "Traceback" not in stdout + stderr
    assert sim_log(tmp_path / "sim.jsonl", "originate") == []


BUGGY_START = """
import sys
from dialer.engine import Engine

async def restore(self):
    raise RuntimeError("restore broke on +14155550123")

Engine.restore = restore  # a bug, for real, in the process that runs the daemon
from dialer.cli import main
sys.argv = ["dialer", "run", "--config", sys.argv[1]]
main()
"""


async def test_a_bug_at_start_is_one_masked_line_and_exit_70(tmp_path):
    config = write_config(tmp_path, 5038)
    assert (await run_cli("init", "--config", str(config)))[0] == 0
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", BUGGY_START, str(config), env={**os.environ, **ENV},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    stdout, stderr = out.decode(), err.decode()
    assert process.returncode == 70
    [line] = [line for line in json_lines(stdout) if line.get("level") == "error"]
    assert line["event"] == "internal_error"
    assert line["error"].startswith("RuntimeError: restore broke on ")
    assert "a bug: please report it" in line["error"]
    assert "4155550123" not in stdout + stderr
    assert "Traceback" not in stdout + stderr


async def test_a_full_disk_at_start_exits_74_and_says_so(tmp_path):
    with small_disk(tmp_path / "disk", size_mb=8) as disk:
        config = write_config(tmp_path, 5038)
        config.write_text(config.read_text().replace('path = "dialer.db"', f'path = "{disk / "dialer.db"}"'))
        assert (await run_cli("init", "--config", str(config)))[0] == 0
        filler = fill(disk)
        code, stdout, stderr = await run_cli("run", "--config", str(config), env=ENV, timeout=60)
        filler.unlink()
    assert code == 74
    [line] = [line for line in json_lines(stdout) if line.get("level") == "error"]
    assert line["event"] == "storage_error"
    assert str(disk) in line["error"]
    assert "No space left on device" in line["error"] or "database or disk is full" in line["error"]
    assert "Traceback" not in stdout + stderr


async def test_init_on_a_full_disk_leaves_no_empty_file_behind(tmp_path):
    with small_disk(tmp_path / "disk", size_mb=8) as disk:
        config = write_config(tmp_path, 5038)
        config.write_text(config.read_text().replace('path = "dialer.db"', f'path = "{disk / "dialer.db"}"'))
        filler = fill(disk)
        code, _, stderr = await run_cli("init", "--config", str(config))
        assert code == 1, stderr
        assert "database or disk is full" in stderr or "No space left" in stderr
        assert not (disk / "dialer.db").exists()  # else the next init would refuse an empty file
        filler.unlink()
        code, stdout, stderr = await run_cli("init", "--config", str(config))
        assert code == 0, stderr
        assert "created the database" in stdout
