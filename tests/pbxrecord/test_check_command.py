"""`dialer pbx-record check`: one command that shows whether the dialer can read Asterisk's record."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from dialer.sim.cdr import MAPPING, ChannelCdr, render


def check(tmp_path: Path, record: Path, enabled: bool = True) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "dialer.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "d.db"}"\n[pbx_record]\nenabled = {str(enabled).lower()}\n'
                      f'path = "{record}"\n')
    return subprocess.run([sys.executable, "-m", "dialer", "pbx-record", "check", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "NO_COLOR": "1"})


def test_a_readable_record_is_shown_with_its_count_and_newest_entry(tmp_path):
    record = tmp_path / "dialer.csv"
    now = time.time()
    record.write_text("".join(render(MAPPING, ChannelCdr(f"c-{i}", f"c-{i}", "BUSY", now - 5, None, now - i, {}))
                              + "\n" for i in range(3)) + "garbage\n")
    result = check(tmp_path, record)
    assert result.returncode == 0, result.stderr
    assert f"record: {record} (enabled)" in result.stdout
    assert "records: 3 (calls: 3)" in result.stdout
    assert "unreadable lines: 1" in result.stdout
    assert f"{record}:4: 1 fields, expected 15" in result.stderr
    assert "ok: the dialer can read Asterisk's record" in result.stdout


def test_no_record_yet_is_one_error_line_that_says_what_to_install(tmp_path):
    result = check(tmp_path, tmp_path / "missing.csv", enabled=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert "config/asterisk/cdr_custom.conf" in lines[0]
    assert "not enabled" in result.stdout


def test_an_unreadable_record_is_one_error_line_not_a_traceback(tmp_path):
    record = tmp_path / "dialer.csv"
    record.mkdir()
    result = check(tmp_path, record)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cannot read it" in result.stderr
    assert "Traceback" not in result.stderr
