"""Every file the dialer or its demo writes holds numbers, so none is readable by other users: after a
real `dialer demo` run (with a umask of 022 and files an older run left at 0644) and the exports a
campaign manager or compliance officer makes from it, every file in the folder is 0600 or 0640."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

DIALER = [sys.executable, "-m", "dialer"]


def _dialer(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    def loose_umask() -> None:
        os.umask(0o022)  # what a login shell usually has: the dialer must not rely on a stricter one

    return subprocess.run([*DIALER, *args], capture_output=True, text=True, cwd=cwd, timeout=300,
                          preexec_fn=loose_umask)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_after_a_demo_run_and_its_exports_no_file_is_readable_by_other_users(tmp_path):
    workdir = tmp_path / "demo"
    workdir.mkdir()
    # Left by an earlier run of an older version, world-readable: the new run must close them.
    for name in ("leads.csv", "sim-originations.jsonl", "dialer.log"):
        (workdir / name).write_text("+14155550123\n")
        os.chmod(workdir / name, 0o644)
    result = _dialer("demo", "--workdir", str(workdir), "--leads", "30", "--time-scale", "0.02", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    exports = tmp_path / "exports"
    exports.mkdir()
    outputs = {"audit.csv": ("audit", "export", "--output"), "contacts.json": ("contact", "export", "--format",
                                                                               "json", "--output"),
               "report.html": ("report", "--format", "html", "--output"),
               "report.csv": ("report", "--format", "csv", "--output")}
    for name, command in outputs.items():
        target = exports / name
        target.write_text("old\n")
        os.chmod(target, 0o644)  # an existing file is overwritten: its mode must be tightened too
        done = _dialer(*command, str(target), "--workdir", str(workdir), cwd=tmp_path)
        assert done.returncode == 0, (name, done.stderr)
    bad_rows = tmp_path / "more-leads.csv"
    bad_rows.write_text("phone\n+14155550199\nnot a number\n")
    errors = exports / "errors.txt"
    done = _dialer("import", "demo", str(bad_rows), "--errors-file", str(errors), "--workdir", str(workdir),
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert errors.read_text().splitlines()[1].startswith("3,")  # import_line, import_error, the row

    files = [p for p in [*workdir.rglob("*"), *exports.rglob("*")] if p.is_file() and not p.is_symlink()]
    names = {p.name for p in files}
    for expected in ("leads.csv", "sim-originations.jsonl", "dialer.log", "dialer.db", "dialer.toml", "audit.csv",
                     "contacts.json", "report.html", "report.csv", "errors.txt"):
        assert expected in names, sorted(names)
    assert any(p.suffix == ".wav" for p in files)  # recordings too
    loose = {str(p.relative_to(tmp_path)): f"{_mode(p):04o}" for p in files if _mode(p) not in (0o600, 0o640)}
    assert loose == {}
    folders = {str(p.relative_to(tmp_path)): f"{_mode(p):04o}" for p in [workdir, *workdir.rglob("*")]
               if p.is_dir() and _mode(p) & 0o007}
    assert folders == {}
