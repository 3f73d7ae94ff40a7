"""What `Database.open` does with the file it finds: a real dialer database opens, anything else (empty,
damaged in each way a disk or a person damages one, another program's, without its schema) is refused
with one line naming the path and what to do, and is left exactly as it was."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from dialer.store import Database, DatabaseMissing, DatabaseUnusable
from dialer.store.db import DIALER_APPLICATION_ID

PAGE = 4096


async def make_database(path: Path, rows: int = 2000) -> Path:
    """A real dialer database with enough rows to span many pages, checkpointed into the main file."""
    async with Database.open(path) as db, db.write() as tx:
        await tx.execute("INSERT INTO campaigns (id, state, created_at, updated_at) VALUES ('c', 'active', 0, 0)")
        await tx.executemany(
            "INSERT INTO audit (at, kind, campaign_id, number_hash, number_masked, verdict, rule, detail, actor) "
            "VALUES (?, 'gate', 'c', 'h', '+1415***0000', 'allow', 'ok', ?, 'dialer')",
            [(i, "x" * 200) for i in range(rows)])
    return path


def _noise(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def bad_header(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[:16] = b"SQLite format 2\0"
    p.write_bytes(bytes(data))


def truncated(p: Path) -> None:
    os.truncate(p, p.stat().st_size // 2)


def truncated_to_50_bytes(p: Path) -> None:
    os.truncate(p, 50)


def garbage(p: Path) -> None:
    p.write_bytes(_noise(p.stat().st_size, 1))


def malformed_first_page(p: Path) -> None:  # the schema's page: found as soon as the file is opened
    data = bytearray(p.read_bytes())
    data[100:PAGE] = _noise(PAGE - 100, 2)
    p.write_bytes(bytes(data))


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "bad header": (bad_header, "not an SQLite database (bad header"),
    "garbage": (garbage, "not an SQLite database (bad header"),
    "truncated": (truncated, "the database is damaged (database disk image is malformed)"),
    "truncated to 50 bytes": (truncated_to_50_bytes, "the database is damaged"),
    "malformed first page": (malformed_first_page, "the database is damaged (database disk image is malformed)"),
}


@pytest.mark.parametrize("create", [False, True])
@pytest.mark.parametrize("kind", sorted(DAMAGE))
async def test_a_damaged_file_is_refused_with_the_path_the_sqlite_message_and_restore(tmp_path, kind, create):
    path = await make_database(tmp_path / "dialer.db")
    damage, message = DAMAGE[kind]
    damage(path)
    before = path.read_bytes()
    with pytest.raises(DatabaseUnusable) as refused:
        async with Database.open(path, create=create):
            pass
    text = str(refused.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert "restore from a backup with `dialer restore FILE`" in text
    assert "\n" not in text
    assert path.read_bytes() == before  # refused, never "repaired" or re-initialised


async def test_a_malformed_page_deep_in_the_file_is_found_by_the_integrity_check(tmp_path):
    path = await make_database(tmp_path / "dialer.db", rows=5000)
    data = bytearray(path.read_bytes())
    middle = (len(data) // PAGE // 2) * PAGE
    data[middle:middle + PAGE] = _noise(PAGE, 3)
    path.write_bytes(bytes(data))
    async with Database.open(path, create=False) as db:  # the pages read at open are intact
        with pytest.raises(DatabaseUnusable, match=r"the database is damaged .*dialer restore FILE"):
            await db.check_integrity()


async def test_an_intact_database_passes_the_integrity_check(tmp_path):
    path = await make_database(tmp_path / "dialer.db")
    async with Database.open(path, create=False) as db:
        await db.check_integrity()


@pytest.mark.parametrize("create", [False, True])
async def test_an_empty_file_is_refused_not_initialised(tmp_path, create):
    path = tmp_path / "dialer.db"
    path.touch()
    with pytest.raises(DatabaseUnusable, match=r"is an empty file \(0 bytes\), not a dialer database; restore from "
                                               r"a backup .* or remove the file and run `dialer init`"):
        async with Database.open(path, create=create):
            pass
    assert path.stat().st_size == 0
    assert not path.with_name("dialer.db-wal").exists()


def _sqlite_file(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


@pytest.mark.parametrize(("statements", "message"), [
    (("VACUUM",), "an SQLite database without the dialer's schema (no tables)"),
    (("CREATE TABLE notes (x)", "CREATE TABLE other (y)"), "not a dialer database (its tables: notes, other)"),
    (("PRAGMA application_id = 1234", "CREATE TABLE meta (k)", "CREATE TABLE attempts (a)"),
     "an SQLite database of another program (application_id 0x000004d2)"),
])
async def test_an_sqlite_file_that_is_not_ours_is_refused(tmp_path, statements, message):
    path = tmp_path / "dialer.db"
    _sqlite_file(path, *statements)
    before = path.read_bytes()
    with pytest.raises(DatabaseUnusable, match=message.replace("(", r"\(").replace(")", r"\)")):
        async with Database.open(path, create=True):
            pass
    assert path.read_bytes() == before


async def test_a_dialer_database_that_lost_a_table_is_refused(tmp_path):
    path = await make_database(tmp_path / "dialer.db")
    _sqlite_file(path, "DROP TABLE outbox")
    with pytest.raises(DatabaseUnusable, match=r"the dialer's schema is incomplete \(no table outbox\)"):
        async with Database.open(path, create=False):
            pass


async def test_a_missing_database_is_created_only_when_asked(tmp_path):
    path = tmp_path / "state" / "dialer.db"
    with pytest.raises(DatabaseMissing, match=r"no database here; create it with `dialer init`"):
        async with Database.open(path, create=False):
            pass
    assert not path.parent.exists()
    async with Database.open(path, create=True):
        pass
    assert stat.S_IMODE(path.stat().st_mode) & 0o007 == 0
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == DIALER_APPLICATION_ID
    conn.close()
    async with Database.open(path, create=False):
        pass


async def test_a_dialer_database_from_before_the_stamp_is_recognised_and_stamped(tmp_path):
    path = await make_database(tmp_path / "dialer.db")
    _sqlite_file(path, "PRAGMA application_id = 0")
    async with Database.open(path, create=False) as db:
        assert await db.fetchone("SELECT COUNT(*) FROM audit") is not None
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == DIALER_APPLICATION_ID
    conn.close()


async def test_opening_never_drops_the_locks_of_another_connection_in_this_process(tmp_path):
    """Reading a database file with open()/close() drops every POSIX lock the process holds on it; another
    process then deletes the WAL under our connection, which sees no commit from then on (this made a
    running daemon blind to new leads in one test). Opening goes by stat() and SQLite only."""
    path = await make_database(tmp_path / "dialer.db", rows=10)
    async with Database.open(path, create=False) as daemon:
        async with Database.open(path, create=False):  # e.g. a command run in-process
            pass
        writer = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                  "c.execute(\"INSERT INTO meta (key, value) VALUES ('seen', 'yes')\"); c.commit(); c.close()")
        process = await asyncio.create_subprocess_exec(sys.executable, "-c", writer, str(path))
        assert await asyncio.wait_for(process.wait(), 60) == 0
        assert await daemon.fetchone("SELECT value FROM meta WHERE key = 'seen'") is not None


STRACE = shutil.which("strace")


@pytest.mark.skipif(STRACE is None, reason="strace not installed")
def test_a_durable_write_is_fsynced_and_an_ordinary_one_is_not(tmp_path):
    """synchronous=FULL for exactly the durable transaction: its COMMIT syncs the WAL, the next does not."""
    path = tmp_path / "dialer.db"
    asyncio.run(make_database(path, rows=1))
    script = tmp_path / "writes.py"
    script.write_text(
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from dialer.store import Database\n"
        "async def main(durable):\n"
        "    async with Database.open(Path(sys.argv[1]), create=False) as db:\n"
        "        for i in range(20):\n"
        "            async with db.write(durable=durable) as tx:\n"
        "                await tx.execute('INSERT INTO meta (key, value) VALUES (?, ?)', (f'k{i}{durable}', 'v'))\n"
        "asyncio.run(main(sys.argv[2] == 'durable'))\n")

    def syncs(mode: str) -> int:
        result = subprocess.run([STRACE, "-f", "-c", "-e", "trace=fsync,fdatasync", sys.executable, str(script),
                                 str(path), mode], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        return sum(int(line.split()[3]) for line in result.stderr.splitlines()
                   if line.strip().endswith(("fsync", "fdatasync")) and line.split()[3].isdigit())

    ordinary, durable = syncs("ordinary"), syncs("durable")
    assert durable - ordinary >= 20  # one WAL sync per durable commit at least
    assert ordinary < 10  # NORMAL: only checkpoints and close sync
