"""What the commands say is so: a DNC entry added twice is one entry, free text refuses numbers where
its help says so, consent cannot be granted in the future, search finds any script and quoted values,
long commands show progress on a terminal only, and the demo explains itself and starts clean."""

from __future__ import annotations

import json
import os
import pty
import select
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.hostile import run
from tests.cli.test_hostile import CONFIG

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cfg(tmp_path: Path) -> list[str]:
    (tmp_path / "dialer.toml").write_text(CONFIG)
    args = ["--config", str(tmp_path / "dialer.toml")]
    assert run(["init", *args]).code == 0  # only init, import and demo create a database
    return args


def test_adding_a_dnc_entry_again_is_a_no_op_that_says_so(cfg):
    first = run(["dnc", "add", "+14155550123", *cfg])
    assert "1 number(s) added to the internal list" in first.stdout
    again = run(["dnc", "add", "+14155550123", "(415) 555-0124", *cfg])
    assert again.code == 0
    assert "1 number(s) added to the internal list; 1 already on it (unchanged)" in again.stdout
    entries = json.loads(run(["dnc", "list", "--format", "json", *cfg]).stdout)["entries"]
    assert len(entries) == 2
    temporary = run(["dnc", "add", "+14155550125", "--expires", "1d", *cfg])
    assert temporary.code == 0
    longer = run(["dnc", "add", "+14155550125", "--expires", "30d", *cfg])
    assert "already on it with an earlier expiry (extended until" in longer.stdout
    assert len(json.loads(run(["dnc", "list", "--format", "json", *cfg]).stdout)["entries"]) == 3
    audit = json.loads(run(["audit", "export", "--format", "json", *cfg]).stdout)
    assert [r["kind"] for r in audit].count("dnc_extend") == 1


@pytest.mark.parametrize("source", ["email from +14155550111", "call from 415 555 0111", "ticket 4155550111"])
def test_a_source_with_a_phone_number_is_refused(cfg, source):
    for command in (["dnc", "add", "+14155550123", "--source", source],
                    ["consent", "add", "+14155550123", "--source", source],
                    ["consent", "revoke", "+14155550123", "--source", source]):
        result = run([*command, *cfg])
        assert result.code == 2, command
        assert "--source must not contain a phone number" in result.stderr
        assert "0111" not in result.stderr  # the error does not repeat it either
    assert run(["dnc", "add", "+14155550123", "--source", "web form 2026-11", *cfg]).code == 0


def test_consent_granted_in_the_future_is_an_error(cfg, tmp_path):
    future = run(["consent", "add", "+14155550123", "--source", "form", "--granted-at", "2030-01-01", *cfg])
    assert future.code == 2
    assert "--granted-at 2030-01-01T00:00:00Z is in the future" in future.stderr
    assert run(["consent", "add", "+14155550123", "--source", "form", "--granted-at", "2024-01-01", *cfg]).code == 0
    records = tmp_path / "consents.csv"
    records.write_text("number,source,granted_at\n+14155550124,form,2031-05-05\n")
    imported = run(["consent", "import", str(records), *cfg])
    assert imported.code == 1
    assert "line 2: granted_at: granted_at 2031-05-05T00:00:00Z is in the future" in imported.stderr


def test_attribute_and_name_search_match_any_script_case_and_quoted_values(cfg, tmp_path):
    leads = tmp_path / "leads.csv"
    leads.write_text('phone,name,city\n+14155550100,Åsa Öberg,Zürich\n+14155550101,Bob,"New York"\n'
                     "+14155550102,Zoë,ZÜRICH\n+14155550103,Ümit,Zurich\n", encoding="utf-8")
    assert run(["import", "c1", str(leads), *cfg]).code == 0

    def found(*args: str) -> list[str]:
        result = run(["contact", "search", *args, "--format", "json", *cfg])
        assert result.code == 0, result.stderr
        return sorted(c["name"] for c in json.loads(result.stdout))

    assert found("--attr", "city=Zürich") == ["Zoë", "Åsa Öberg"]
    assert found("--attr", "CITY=zürich") == ["Zoë", "Åsa Öberg"]
    assert found("--attr", 'city="New York"') == ["Bob"]
    assert found("--attr", "city='new york'") == ["Bob"]
    assert found("--name", "öberg") == ["Åsa Öberg"]
    assert found("--name", "ÜMIT") == ["Ümit"]


def _on_a_terminal(args: list[str]) -> str:
    """Run a command with stderr on a pseudo-terminal; everything it drew there."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "dialer", *args], stdout=subprocess.PIPE, stderr=terminal,
                               cwd=REPO, env={**os.environ, "COLUMNS": "100", "TERM": "xterm"})
    os.close(terminal)
    drawn = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
        elif process.poll() is not None:
            break
    process.wait(timeout=120)
    os.close(controller)
    return drawn.decode("utf-8", errors="replace")


def test_scrub_and_import_show_progress_on_a_terminal_and_nothing_in_a_pipe(cfg, tmp_path):
    leads = tmp_path / "leads.csv"
    leads.write_text("phone\n" + "".join(f"+1415555{i:04d}\n" for i in range(200, 2200)))
    imported = _on_a_terminal(["import", "c1", str(leads), *cfg])
    assert "reading" in imported
    drawn = _on_a_terminal(["scrub", "c1", *cfg])
    assert "judging c1's leads" in drawn
    piped = run(["scrub", "c1", *cfg])
    assert piped.code == 0
    assert piped.stderr == ""
    assert "judged in" not in piped.stdout  # no benchmark text in a report
    assert piped.stdout.startswith("c1: 2000 leads at ")


def test_the_demo_explains_itself_starts_clean_and_its_next_steps_run(tmp_path):
    dialer = str(Path(sys.executable).with_name("dialer"))  # the console script, as `make demo` runs it
    # Not under make (as when `make test` runs this): then the demo would offer `make demo` again.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    demo = subprocess.run([dialer, "demo", "--workdir", "run", "--leads", "20", "--time-scale", "0.02"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300, env=env)
    assert demo.returncode == 0, demo.stderr
    assert "time scale 0.02: the simulator plays every call 50x faster" in demo.stdout
    assert "ab.24h, ab.30d: abandoned / live-answered calls over 24 hours and 30 days" in demo.stdout
    assert max(len(line) for line in demo.stdout.split("gate decisions:")[0].splitlines()) <= 80  # the report
    steps = [line.split("  # ")[0].strip() for line in demo.stdout.split("next steps:\n")[1].splitlines()]
    assert steps[0].startswith(os.path.relpath(dialer, tmp_path) if not os.path.relpath(dialer, tmp_path)
                               .startswith("..") else dialer)
    for step in steps:
        if " demo " in f" {step} ":
            continue  # the fresh run is the next test
        result = subprocess.run(shlex.split(step), capture_output=True, text=True, cwd=tmp_path, timeout=120, env=env)
        assert result.returncode == 0, (step, result.stderr)
    again = subprocess.run([*shlex.split(steps[-1]), "--leads", "10", "--time-scale", "0.02"], capture_output=True,
                           text=True, cwd=tmp_path, timeout=300, env=env)
    assert again.returncode == 0, again.stderr
    assert "the previous demo run was removed (--resume keeps it)" in again.stderr
    report = json.loads(subprocess.run([dialer, "report", "--workdir", "run", "--format", "json"], capture_output=True,
                                       text=True, cwd=tmp_path, timeout=120).stdout)
    assert sum(report["leads_by_status"].values()) == 10  # not 30: the first run's results are gone
    resumed = subprocess.run([dialer, "demo", "--workdir", "run", "--leads", "5", "--time-scale", "0.02",
                              "--resume"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    other = tmp_path / "mine"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    refused = subprocess.run([dialer, "demo", "--workdir", "mine"], capture_output=True, text=True, cwd=tmp_path,
                             timeout=120)
    assert refused.returncode == 2
    assert (other / "thesis.tex").read_text() == "precious"


def test_under_make_the_demo_offers_make_demo_for_a_fresh_run(tmp_path):
    dialer = str(Path(sys.executable).with_name("dialer"))
    demo = subprocess.run([dialer, "demo", "--workdir", "run", "--leads", "5", "--time-scale", "0.02"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env={**os.environ, "MAKELEVEL": "1"})
    assert demo.returncode == 0, demo.stderr
    assert demo.stdout.splitlines()[-1].startswith("  make demo  # a fresh run")
