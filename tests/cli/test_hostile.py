"""No command prints a traceback, markup or terminal control, whatever its arguments, data or permissions.

Every command of the app (walked from the typer app: a new command is covered by itself) runs with
each of its arguments and options set to hostile values (rich markup, ANSI escapes and control
bytes, brackets, a very long string), over a database whose contacts carry such values too; then
every command runs as `nobody` against a database it cannot read and one it cannot write. Each
run ends with exit 0, 1 (failure) or 2 (usage) and, when it fails, one `error:` line.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.hostile import HOSTILE, Result, commands, run

REPO = Path(__file__).resolve().parents[2]

# Commands or options a hostile value would make run for real and for long: the simulator serves
# until SIGTERM once it has a log or spool path; a demo runs a whole campaign in any folder; `run`
# with a good config is the daemon. Each is exercised elsewhere (tests/sim, tests/cli/test_commands).
SKIP = {("sim", "log"), ("sim", "spool_dir"), ("demo", "workdir")}
NEVER_AS_GIVEN = {("run",), ("sim",), ("demo",)}  # their benign form would not end by itself


def benign(tmp: Path) -> dict[str, str]:
    """A plausible value for every required parameter, by name."""
    return {
        "campaign": "c1", "name": "c1", "number": "+14155550123", "at": "2h", "source": "web form",
        "key": "1", "text": "call back", "tags": "vip", "reason": "case 7", "numbers": "+14155550123", "into": "c1",
    }


def files(tmp: Path, path: tuple[str, ...]) -> str:
    """The FILE argument of each command that takes one."""
    return {
        ("backup",): str(tmp / "backup.db"), ("check-config",): str(tmp / "dialer.toml"),
        ("consent", "import"): str(tmp / "consents.csv"), ("dnc", "import"): str(tmp / "registry.txt"),
        ("import",): str(tmp / "leads.csv"), ("restore",): str(tmp / "backup.db"),
    }[path]


CONFIG = """
[database]
path = "dialer.db"
[trunks.sim]
channel = "Local/{number}@callees"
[campaigns.c1]
trunk = "sim"
caller_id = '"Test" <+14155550100>'
"""


@pytest.fixture(scope="module")
def world() -> Iterator[Path]:
    """A config and a database whose contacts, notes and tags carry hostile text (readable by nobody)."""
    tmp = Path(tempfile.mkdtemp(prefix="dialer-hostile-", dir="/tmp"))
    os.chmod(tmp, 0o755)
    (tmp / "dialer.toml").write_text(CONFIG)
    lines = ["phone,name,city,note"]
    for i, text in enumerate(HOSTILE[:4]):
        lines.append(f'+1415555{i:04d},"{text}","{text}","=HYPERLINK(""http://evil.example"",""x"")"')
    lines += ['+14155550010,=1+2,,', '+14155550011,"=HYPERLINK(""http://evil.example"",""Click"")",,',
              '+14155550012,@SUM(A1),,', '+14155550013,＝cmd,,']
    (tmp / "leads.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp / "consents.csv").write_text("number,source,granted_at\n+14155550000,form,2024-01-01\n")
    (tmp / "registry.txt").write_text("+14155550999\n")
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        config = ["--config", str(tmp / "dialer.toml")]
        assert run(["import", "c1", str(tmp / "leads.csv"), *config]).code == 0
        assert run(["contact", "note", "1", "call [/] later \x1b[2J", *config]).code == 0
        assert run(["dnc", "add", "+14155550999", "--source", "hostile test", *config]).code == 0
        assert run(["backup", str(tmp / "backup.db"), *config]).code == 0
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.chdir(cwd)
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)


def _value_params(command: object) -> list[object]:
    return [p for p in command.params if not getattr(p, "is_flag", False) and p.name not in ("help",)]


def base_args(tmp: Path, path: tuple[str, ...], command: object, target: str | None, value: str) -> list[str]:
    """The command line with every required parameter filled, `target` set to `value`."""
    values = benign(tmp)
    args = list(path)
    options: list[str] = []
    for param in command.params:
        name = param.name
        given = value if name == target else None
        if param.param_type_name == "argument":
            if given is None and name == "file":
                given = files(tmp, path)
            if given is None and param.required:
                given = values[name]
            if given is not None:
                args.append(given)
        elif given is not None or param.required:
            options += [param.opts[0], given if given is not None else values[name]]
    if target not in ("config", "workdir") and any(p.name == "config" for p in command.params):
        options += ["--config", str(tmp / "dialer.toml")]
    return args + options


def test_every_required_parameter_has_a_benign_value(world):
    """A new command with a new required parameter must say what a plausible value is (above)."""
    values = benign(world)
    for path, command in commands():
        for param in command.params:
            file_argument = param.name == "file" and param.param_type_name == "argument"
            if param.required and not file_argument:
                assert param.name in values, f"{' '.join(path)}: add a benign value for {param.name!r}"
            if file_argument:
                assert files(world, path)


def hostile_cases(tmp: Path) -> list[list[str]]:
    cases = []
    for path, command in commands():
        for param in _value_params(command):
            if (path[0], param.name) in SKIP or (path == ("sim",) and param.name not in ("host", "user", "profile")):
                continue
            for value in HOSTILE:
                cases.append(base_args(tmp, path, command, param.name, value))
    return cases


def test_every_command_with_hostile_arguments_ends_cleanly(world, monkeypatch):
    monkeypatch.chdir(world)  # files a command writes (a backup named "[/]"...) land here
    monkeypatch.setenv("DIALER_AMI_SECRET", "x")
    bad = []
    cases = hostile_cases(world)
    assert len(cases) > 300
    for args in cases:
        result = run(args)
        problems = result.problems()
        if problems:
            bad.append(f"{result.short()}: {problems}\n{result.stderr[-300:]}")
    assert not bad, f"{len(bad)} of {len(cases)} runs broke the rules:\n" + "\n".join(bad[:20])


def test_hostile_data_is_shown_as_text_never_as_markup_or_control(world, monkeypatch):
    monkeypatch.chdir(world)
    config = ["--config", str(world / "dialer.toml")]
    search = run(["contact", "search", "--name", "MARKUP", *config])
    assert search.problems() == []
    assert "[bold red]MARKUP" in search.stdout  # (the table folds the rest of the cell)
    named = run(["contact", "show", "2", *config])
    assert named.stdout.splitlines()[0] == "contact #2  [bold red]MARKUP[/bold red] O[/b]Brien"
    shown = run(["contact", "show", "1", *config])
    assert shown.problems() == []
    assert "call [/] later \\x1b[2J" not in shown.stdout  # ANSI sequences are dropped, not shown
    assert "call [/] later" in shown.stdout
    for key in ("2", "3", "4"):
        result = run(["contact", "show", key, *config])
        assert result.problems() == [], key
    assert run(["contact", "show", "4", *config]).stdout.splitlines()[0] == "contact #4  leads [final].csv"
    controls = run(["contact", "show", "3", *config]).stdout.splitlines()[0]
    assert controls == "contact #3  \\x01\\x7f\\u202eevil"  # ANSI dropped, other controls shown escaped
    missing = run(["import", "c1", "missing [final].csv", *config])
    assert missing.stderr.startswith("error: missing [final].csv: cannot read missing [final].csv")


def test_a_csv_export_neutralises_what_a_spreadsheet_would_run(world, monkeypatch):
    monkeypatch.chdir(world)
    exported = run(["contact", "export", "--format", "csv", "--config", str(world / "dialer.toml")])
    assert exported.code == 0
    rows = list(csv.reader(io.StringIO(exported.stdout)))
    names = {row[1] for row in rows[1:]}
    assert {"'=1+2", "'=HYPERLINK(\"http://evil.example\",\"Click\")", "'@SUM(A1)", "'＝cmd"} <= names
    assert not [cell for row in rows[1:] for cell in row if cell[:1] in ("=", "+", "-", "@", "＝")]
    assert "'+14155550010" in {row[2] for row in rows[1:]}  # a plus sign starts a formula too


def test_a_closed_pipe_ends_an_export_quietly(world):
    process = subprocess.run(
        f"{sys.executable} -m dialer contact export --format json --config {world / 'dialer.toml'} | head -c 10",
        shell=True, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert process.stderr == ""
    assert len(process.stdout) == 10


# -- permissions: the commands as a user who cannot read, or cannot write, the database --------------

def _as_nobody(tmp: Path, cases: list[list[str]]) -> list[Result]:
    cases_file = tmp / "cases.json"
    cases_file.write_text(json.dumps(cases))
    os.chmod(cases_file, 0o644)
    process = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-m", "tests.cli.hostile",
         str(cases_file)], capture_output=True, text=True, cwd=REPO, timeout=600,
        env={**os.environ, "HOME": str(tmp), "DIALER_AMI_SECRET": "x"})
    assert process.returncode == 0, process.stderr[-2000:]
    return [Result(**r) for r in json.loads(process.stdout)]


def permission_cases(tmp: Path) -> list[list[str]]:
    return [base_args(tmp, path, command, None, "") for path, command in commands() if path not in NEVER_AS_GIVEN]


needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                                reason="needs root and setpriv to run a command as another user")


@needs_root
@pytest.mark.parametrize("state", ["unreadable", "read-only"])
def test_every_command_on_a_database_it_cannot_use_says_so_in_one_line(world, state):
    copy = Path(tempfile.mkdtemp(prefix=f"dialer-{state}-", dir="/tmp"))
    try:
        for name in ("dialer.toml", "leads.csv", "consents.csv", "registry.txt", "backup.db", "dialer.db"):
            shutil.copy(world / name, copy / name)
        os.chmod(copy, 0o755)  # nobody cannot create files here (no -wal, no -shm)
        for name in ("dialer.toml", "leads.csv", "consents.csv", "registry.txt", "backup.db"):
            os.chmod(copy / name, 0o644)
        os.chmod(copy / "dialer.db", 0o600 if state == "unreadable" else 0o644)
        results = _as_nobody(copy, permission_cases(copy))
        bad = [f"{r.short()}: {r.problems()}\n{r.stderr[-400:]}" for r in results if r.problems()]
        assert not bad, "\n".join(bad)
        by_command = {" ".join(r.args[:2]): r for r in results}
        if state == "unreadable":
            status = by_command["status --config"]
            assert status.code == 1
            assert "dialer.db: permission denied: it is root:root 0600 and you are nobody" in status.stderr
        else:
            imported = next(r for r in results if r.args[0] == "import")
            assert imported.code == 1
            assert "nobody" in imported.stderr
        assert stat.S_IMODE((copy / "dialer.db").stat().st_mode) in (0o600, 0o644)  # untouched
    finally:
        shutil.rmtree(copy, ignore_errors=True)
