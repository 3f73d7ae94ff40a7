"""Lead lists from the command line: imports from a pipe and an errors file, and list management that
the daemon obeys (checked against the simulator's own log of what it was asked to dial)."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dialer.daemon import run_until_settled
from dialer.sim import SimConfig, SimServer, SimUser
from tests.cli.hostile import run
from tests.e2e.conftest import ANSWERED, BUSY, SECRET, TIME_SCALE, make_config, number, rows, sim_log
from tests.e2e.test_compliance import write_toml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimServer]:
    config = SimConfig(users={"dialer": SimUser(secret=SECRET)}, spool_dir=tmp_path / "spool",
                       time_scale=TIME_SCALE, seed=7, log_path=tmp_path / "sim.jsonl")
    async with SimServer(config) as server:
        yield server


def csv_of(tmp_path: Path, name: str, numbers: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("phone,name\n" + "".join(f"{n},Person {i}\n" for i, n in enumerate(numbers)))
    return path


async def cli(*args: str) -> tuple[int, str, str]:
    """The command line in this process, off the event loop (a command runs its own)."""
    result = await asyncio.to_thread(run, list(args))
    assert not result.problems(), (result.args, result.problems(), result.stderr)
    return result.code, result.stdout, result.stderr


async def test_lists_are_disabled_enabled_recycled_and_deleted_and_the_daemon_obeys(tmp_path, sim):
    config = make_config(tmp_path, sim, retry={"busy": {"delay_s": 0, "max_attempts": 1}})
    path = write_toml(config, tmp_path / "dialer.toml")
    cfg = ["--config", str(path)]
    first = [number(ANSWERED, i) for i in range(3)]
    second = [number(ANSWERED, i) for i in range(10, 12)]
    busy = [number(BUSY, i) for i in range(20, 22)]
    for name, numbers in (("first", first), ("second", second), ("busy", busy)):
        code, out, _ = await cli("import", "c1", str(csv_of(tmp_path, f"{name}.csv", numbers)), "--list", name, *cfg)
        assert code == 0
        assert f"as list {name!r}" in out

    code, out, _ = await cli("leads", "disable", "c1", "--list", "second", "--dry-run", *cfg)
    assert "2 leads match; 2 would be disabled (dry run: nothing changed)" in out
    assert [r["status"] for r in await rows(config, "SELECT status FROM leads WHERE status = 'disabled'")] == []
    code, out, _ = await cli("leads", "disable", "c1", "--list", "second", *cfg)
    assert "2 of 2 matching leads disabled" in out
    await run_until_settled(config, ["c1"])
    log = sim_log(tmp_path)
    called = {o["channel"] for o in log}
    assert all(any(n[1:] in c for c in called) for n in first + busy)
    assert not any(n[1:] in c for n in second for c in called)  # the PBX never saw the disabled list

    code, out, _ = await cli("leads", "count", "c1", *cfg)
    assert "list 'second'" in out
    assert "disabled 2" in out
    assert "exhausted 2" in out
    code, out, _ = await cli("leads", "enable", "c1", "--list", "second", *cfg)
    assert "2 of 2 matching leads enabled" in out
    code, out, _ = await cli("leads", "recycle", "c1", "--list", "busy", *cfg)
    assert "2 of 2 matching leads recycled" in out
    await run_until_settled(config, ["c1"])
    channels = Counter(o["channel"] for o in sim_log(tmp_path))
    for n in second:
        assert sum(v for c, v in channels.items() if n[1:] in c) == 1
    for n in busy:  # recycled: dialled a second time
        assert sum(v for c, v in channels.items() if n[1:] in c) == 2

    never = [number(ANSWERED, 30), number(ANSWERED, 31)]
    await cli("import", "c1", str(csv_of(tmp_path, "never.csv", never)), "--list", "never", *cfg)
    code, out, _ = await cli("leads", "delete", "c1", "--list", "first", "--yes", *cfg)
    assert "0 leads deleted, 3 kept" in out  # they have attempts on record
    code, out, _ = await cli("leads", "delete", "c1", "--list", "never", "--dry-run", *cfg)
    assert "2 leads would be deleted" in out
    code, out, _ = await cli("leads", "delete", "c1", "--list", "never", "--yes", *cfg)
    assert "2 leads deleted, 0 kept" in out
    leads = await rows(config, "SELECT number FROM leads")
    assert not {r["number"] for r in leads} & set(never)
    audit = await rows(config, "SELECT rule, detail, actor FROM audit WHERE kind = 'leads' ORDER BY id")
    assert [a["rule"] for a in audit] == ["import"] * 3 + ["disable", "enable", "recycle", "import", "delete"]
    assert "list 'second'" in audit[3]["detail"]
    assert all(a["actor"] for a in audit)

    code, out, _ = await cli("leads", "list", "c1", "--status", "finished", "--format", "json", *cfg)
    assert code == 0
    result = await asyncio.to_thread(run, ["leads", "list", "c1", "--list", "nope", *cfg])
    assert result.code == 2
    assert "campaign c1 has no lead list 'nope' (lists: 'first', 'second', 'busy', 'never')" in result.stderr
    assert (await asyncio.to_thread(run, ["leads", "count", "nope", *cfg])).code == 2
    refused = await asyncio.to_thread(run, ["leads", "disable", "c1", "--status", "finished", *cfg])
    assert refused.code == 2
    assert "cannot be changed so (only pending)" in refused.stderr


def test_a_pipe_and_dev_stdin_import_like_a_file(tmp_path):
    config = make_config(tmp_path, type("S", (), {"port": 5038})())
    path = write_toml(config, tmp_path / "dialer.toml")
    leads = csv_of(tmp_path, "l.csv", [number(ANSWERED, i) for i in range(5)])
    piped = subprocess.run(f"cat {leads} | {sys.executable} -m dialer import c1 - --config {path}", shell=True,
                           capture_output=True, text=True, cwd=REPO, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert "stdin: 5 rows, 5 numbers imported into c1 as list 'stdin'" in piped.stdout
    with leads.open() as handle:
        redirected = subprocess.run([sys.executable, "-m", "dialer", "import", "c1", "/dev/stdin", "--list", "again",
                                     "--config", str(path)], stdin=handle, capture_output=True, text=True, cwd=REPO,
                                    timeout=120)
    assert redirected.returncode == 0, redirected.stderr
    assert "5 already there" in redirected.stdout
    # /dev/stdin on a pipe can be read only once (no seek): read through to the end like "-".
    through_pipe = subprocess.run(f"cat {leads} | {sys.executable} -m dialer import c1 /dev/stdin --list third "
                                  f"--config {path}", shell=True, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert through_pipe.returncode == 0, through_pipe.stderr
    assert "/dev/stdin: 5 rows, 5 numbers imported into c1 as list 'third' (0 new leads, 5 already there)" \
        in through_pipe.stdout
    assert through_pipe.stderr == ""
    empty_pipe = subprocess.run(f"true | {sys.executable} -m dialer import c1 /dev/stdin --config {path}", shell=True,
                                capture_output=True, text=True, cwd=REPO, timeout=120)
    assert empty_pipe.returncode == 1
    assert empty_pipe.stderr.strip() == "error: /dev/stdin: nothing to read (pipe a CSV file into the command); " \
                                        "nothing imported"
    empty = subprocess.run(f"{sys.executable} -m dialer import c1 - --config {path} < /dev/null", shell=True,
                           capture_output=True, text=True, cwd=REPO, timeout=120)
    assert empty.returncode == 1
    assert empty.stderr.strip() == "error: stdin: standard input is empty (pipe a CSV file into the command); " \
                                   "nothing imported"


def test_the_errors_file_of_the_command_is_fixed_and_imported(tmp_path):
    config = make_config(tmp_path, type("S", (), {"port": 5038})())
    path = write_toml(config, tmp_path / "dialer.toml")
    source = tmp_path / "leads.csv"
    source.write_text("phone;name\n4155552671;Ada\n020 7946 0959;Bob\nnope;Carol\n", encoding="utf-8")
    errors = tmp_path / "rejected.csv"
    first = run(["import", "c1", str(source), "--errors-file", str(errors), "--config", str(path)])
    assert first.code == 0
    assert "2 bad rows skipped (written to" in first.stdout
    assert "line 3: number: not a valid US number, but a valid GB number" in first.stderr
    rows_in = list(csv.reader(io.StringIO(errors.read_text()), delimiter=";"))
    fixed = [rows_in[0]] + [[*r[:2], "+44 20 7946 0959" if r[3] == "Bob" else "4155552672", r[3]] for r in rows_in[1:]]
    with errors.open("w", newline="") as handle:
        csv.writer(handle, delimiter=";").writerows(fixed)
    again = run(["import", "c1", str(errors), "--config", str(path)])
    assert again.code == 0
    assert "2 numbers imported" in again.stdout
    assert "0 bad rows" in again.stdout
    assert os.stat(errors).st_mode & 0o077 == 0
