"""The shipped unit: `systemd-analyze verify` says nothing, `security --offline` scores it <= 1.5,
and it has what the daemon's operation depends on."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dialer.ops.exit_codes import NOT_RETRIED, ExitCode

UNIT = Path(__file__).parents[2] / "systemd" / "dialer.service"
ANALYZE = shutil.which("systemd-analyze") or ("/usr/bin/systemd-analyze"
                                              if Path("/usr/bin/systemd-analyze").exists() else None)
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")


def unit_settings() -> dict[str, list[str]]:
    """Every `Key=value` of the unit (all sections), values in order."""
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def fake_root(tmp_path: Path) -> Path:
    """A root where the unit's commands exist, so `verify` checks the shipped file unchanged.

    verify resolves ExecStart= on the machine it runs on; /opt/dialer/bin/dialer exists only where
    the dialer is installed. The root holds that path, /bin/kill and the host's system units.
    """
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "opt/dialer/bin").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "usr/lib/systemd").mkdir(parents=True)
    stub = root / "opt/dialer/bin/dialer"
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    shutil.copy(shutil.which("kill") or "/bin/kill", root / "bin/kill")
    for units in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")):
        if units.is_dir():
            shutil.copytree(units, root / "usr/lib/systemd/system", symlinks=True, dirs_exist_ok=True)
            break
    shutil.copy(UNIT, root / "etc/systemd/system/dialer.service")
    return root


@needs_analyze
def test_systemd_analyze_verify_is_clean(tmp_path):
    root = fake_root(tmp_path)
    result = subprocess.run([ANALYZE, "verify", f"--root={root}", "dialer.service"],
                            capture_output=True, text=True, timeout=60)
    # verify exits 0 on an unknown directive (a typo) and only warns: any output is a failure.
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    assert result.stdout == "", result.stdout


@needs_analyze
def test_verify_would_catch_a_typo(tmp_path):
    root = fake_root(tmp_path)
    unit = root / "etc/systemd/system/dialer.service"
    unit.write_text(unit.read_text().replace("ProtectHome=yes", "ProtectHom=yes"))
    result = subprocess.run([ANALYZE, "verify", f"--root={root}", "dialer.service"],
                            capture_output=True, text=True, timeout=60)
    assert "Unknown key 'ProtectHom'" in result.stderr


@needs_analyze
def test_security_exposure_is_at_most_1_5():
    result = subprocess.run([ANALYZE, "security", "--offline=true", str(UNIT)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    match = re.search(r"Overall exposure level for dialer\.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout[-500:]
    exposure = float(match.group(1))
    print(f"systemd-analyze security --offline=true systemd/dialer.service: {exposure}")
    assert exposure <= 1.5


def test_the_unit_has_what_operation_depends_on():
    s = unit_settings()
    assert s["Type"] == ["notify"]
    assert s["NotifyAccess"] == ["main"]
    assert s["ExecStart"] == ["/opt/dialer/bin/dialer run --config /etc/dialer/dialer.toml"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["Restart"] == ["on-failure"]
    assert int(s["WatchdogSec"][0]) >= 10
    assert s["User"] == ["dialer"]
    assert s["Group"] == ["dialer"]
    assert "DynamicUser" not in s
    assert s["StateDirectory"] == ["dialer"]
    assert s["ConfigurationDirectory"] == ["dialer"]
    assert sorted(s["LoadCredential"]) == ["ami-secret:/etc/dialer/ami-secret", "mqtt-secret:/etc/dialer/mqtt-secret"]
    # Write access: the state directory (StateDirectory=) and the recordings spool, nothing else.
    assert s["ProtectSystem"] == ["strict"]
    assert s["ReadWritePaths"] == ["-/var/spool/asterisk/monitor/dialer"]
    assert "ReadWriteDirectories" not in s
    # The drain (60 s by default) must fit in the stop timeout.
    assert int(s["TimeoutStopSec"][0]) > 60


def test_the_unit_parses_as_ini_with_the_three_sections():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text().replace("SystemCallFilter=~", "SystemCallFilter2=~"))
    assert parser.sections() == ["Unit", "Service", "Install"]
    assert parser["Install"]["WantedBy"] == "multi-user.target"


def test_sysusers_and_tmpfiles_name_the_same_user_and_spool():
    sysusers = (UNIT.parent / "dialer.sysusers").read_text()
    tmpfiles = (UNIT.parent / "dialer.tmpfiles").read_text()
    assert re.search(r"^u dialer - .* /var/lib/dialer ", sysusers, re.M)
    assert re.search(r"^d /var/spool/asterisk/monitor/dialer 2770 asterisk dialer -$", tmpfiles, re.M)


def test_a_daemon_that_fails_at_start_is_not_restarted_forever():
    s = unit_settings()
    interval_s, burst = int(s["StartLimitIntervalSec"][0]), int(s["StartLimitBurst"][0])
    restart_s, start_timeout_s = int(s["RestartSec"][0]), int(s["TimeoutStartSec"][0])
    assert interval_s > 0  # 0 = no limit: the daemon was restarted every 5 s forever
    # A fast failure (damaged database, full disk) trips the limit: `burst` tries fit in the interval...
    assert burst * restart_s < interval_s
    # ...while waiting for an Asterisk that is away (each try times out) never does.
    assert burst * (start_timeout_s + restart_s) > interval_s
    # The limit is a [Unit] setting (in [Service] systemd ignores it with a warning only).
    unit_part = UNIT.read_text().split("[Service]")[0]
    assert "StartLimitIntervalSec=300" in unit_part
    assert "StartLimitBurst=5" in unit_part


def test_failures_a_restart_cannot_fix_are_not_restarted():
    prevented = {int(code) for code in unit_settings()["RestartPreventExitStatus"][0].split()}
    assert prevented == {int(code) for code in NOT_RETRIED}
    assert {ExitCode.CONFIG, ExitCode.DATABASE_UNUSABLE, ExitCode.NO_DATABASE} <= prevented
    assert ExitCode.STORAGE not in prevented  # a full disk may be freed: retried within the limit
