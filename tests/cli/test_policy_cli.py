"""`dialer policy list|show` and `dialer check` under presets, run as separate processes on real files."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_commands import dialer, write_config

HOSTILE = """
name = "acme"
title = "[bold red]Acme[/bold red] rules \\u001b[2J"
kind = "sector"
regions = ["US"]
last_checked = 2026-11-30
[[rules]]
id = "hours"
type = "window"
hours = { mon = ["10:00-18:00"] }
source = { authority = "[link=http://evil]handbook[/link]", section = "s. 1\\u0007", in_force = 2025-01-01 }
note = "\\u001b]0;owned\\u0007 see [red]here[/red]"
"""


def test_policy_list_names_every_builtin_preset_without_a_config(tmp_path):
    result = dialer("policy", "list", "--format", "json", "--config", str(write_config(tmp_path, 5038)))
    assert result.returncode == 0, result.stderr
    names = {p["name"]: p for p in json.loads(result.stdout)}
    assert {"us", "us-states", "cn-insurance", "us-debt-collection", "gb-ofcom", "default"} <= set(names)
    assert names["us-states"]["kind"] == "states"


def test_policy_show_prints_each_rule_with_its_source(tmp_path):
    result = dialer("policy", "show", "us-states", "--config", str(write_config(tmp_path, 5038)))
    assert result.returncode == 0, result.stderr
    assert "fl-hours (window, Florida)" in result.stdout
    assert "source: Florida Telephone Solicitation Act (mini-TCPA, SB 1120), Fla. Stat. 501.059, in force 2021-07-01" \
        in result.stdout
    assert "last checked 2026-12-03" in result.stdout
    assert "Not legal advice" in result.stdout
    unknown = dialer("policy", "show", "florida", "--config", str(write_config(tmp_path, 5038)))
    assert unknown.returncode == 2
    assert "error: unknown preset 'florida' (known: au," in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_policy_show_prints_a_users_preset_as_text_never_as_markup_or_terminal_control(tmp_path):
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "acme.toml").write_text(HOSTILE)
    path = write_config(tmp_path, 5038, extra='[presets]\ndir = "presets"\n')
    for args in (("list",), ("show", "acme")):
        result = dialer("policy", *args, "--config", str(path))
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout
        assert "\x07" not in result.stdout
    shown = dialer("policy", "show", "acme", "--config", str(path)).stdout
    assert "[bold red]Acme[/bold red] rules" in shown
    assert "[link=http://evil]handbook[/link]" in shown
    assert "[red]here[/red]" in shown


def test_a_broken_user_preset_is_one_line_naming_the_file_and_key(tmp_path):
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "acme.toml").write_text(HOSTILE.replace('type = "window"', 'type = "window"\nx = 1'))
    path = write_config(tmp_path, 5038, extra='[presets]\ndir = "presets"\n')
    for args in (("policy", "list", "--config", str(path)), ("check-config", str(path))):
        result = dialer(*args)
        assert result.returncode == 2
        assert f"presets.dir: {tmp_path / 'presets' / 'acme.toml'}: rules[hours].x: unknown key" in result.stderr
        assert "Traceback" not in result.stderr


TUE_EVENING_NY = "2026-06-02T20:30:00-04:00"


@pytest.mark.parametrize(("presets", "number", "at", "rule", "cites"), [
    (["us-states"], "+13055550123", TUE_EVENING_NY, "window.hours",
     "outside 08:00–20:00 in Florida (Fla. Stat. 501.059), preset us-states"),
    (["us-states"], "+14055550123", "2026-06-02T20:30:00-05:00", "window.hours", "in Oklahoma (15 Okla. Stat. 775C.4"),
    (["us-states"], "+13055550123", "2026-06-02T12:00:00-04:00", "preset.consent",
     "consent required in Florida (Fla. Stat. 501.059(8)(a)"),
    (["us-debt-collection"], "+12125550123", "2026-06-02T12:00:00-04:00", "preset.cap",
     "the lead has no debt_id attribute; calls are capped per debt in the US (12 CFR 1006.14(b)(2)(i)"),
])
def test_check_explains_the_preset_rule_that_blocks(tmp_path, presets, number, at, rule, cites):
    path = write_config(tmp_path, 5038, extra=f"[campaigns.c1.compliance]\npresets = {json.dumps(presets)}\n")
    assert dialer("init", "--config", str(path)).returncode == 0
    result = dialer("check", number, "--campaign", "c1", "--at", at, "--config", str(path), "--format", "json")
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["verdict"] == "block"
    found = next(r for r in data["rules"] if r["rule"] == rule)
    assert found["verdict"] == "block"
    assert cites in found["detail"]
    assert number[2:] not in result.stdout + result.stderr
    text = dialer("check", number, "--campaign", "c1", "--at", at, "--config", str(path))
    assert f"{rule}" in text.stdout
    assert cites in text.stdout
    free = dialer("check", number, "--at", at, "--config", str(path), "--format", "json")  # the global policy
    assert next(r for r in json.loads(free.stdout)["rules"] if r["rule"] == rule)["verdict"] == "allow"


def test_check_config_refuses_cn_insurance_with_recordings_off(tmp_path):
    path = write_config(tmp_path, 5038, extra='[campaigns.c1.compliance]\npresets = ["cn-insurance"]\n')
    result = dialer("check-config", str(path))
    assert result.returncode == 2
    assert "campaigns.c1.recordings.enabled: preset cn-insurance requires every call recorded" in result.stderr
