"""A campaign names the presets it is under; the config load (daemon start, check-config) refuses
names it does not know and recording settings a preset forbids, and purge keeps what a preset keeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialer.config import ConfigError, load_config
from dialer.recordings.retention import retention_days

BASE = """
[trunks.t]
channel = "PJSIP/{number}@t"
[campaigns.a]
trunk = "t"
caller_id = '"Acme" <+14155550100>'
default_region = "CN"
"""
INSURANCE = '[campaigns.a.compliance]\npresets = ["cn-insurance"]\n'
RECORDED = "[recordings]\nenabled = true\nretention_days = 1900\n"


def load(tmp_path: Path, text: str):
    path = tmp_path / "dialer.toml"
    path.write_text(text)
    return load_config(path, require_secret=False)


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return str(info.value)


def test_campaign_presets_add_to_the_global_ones(tmp_path):
    config = load(tmp_path, '[compliance]\npresets = ["us-states"]\n' + BASE + INSURANCE + RECORDED)
    assert config.compliance_for("a").presets == ("cn-insurance", "us-states")
    assert config.compliance.presets == ("us-states",)


def test_an_unknown_preset_name_is_an_error_naming_the_key(tmp_path):
    message = problems(tmp_path, BASE + '[campaigns.a.compliance]\npresets = ["cn-insurence"]\n')
    assert "campaigns.a.compliance.presets: unknown preset 'cn-insurence' (known: au," in message
    assert "`dialer policy list` shows them" in message
    message = problems(tmp_path, '[compliance]\npresets = ["florida"]\n' + BASE)
    assert "compliance.presets: unknown preset 'florida'" in message


def test_a_campaign_under_cn_insurance_does_not_start_with_recordings_off(tmp_path):
    message = problems(tmp_path, BASE + INSURANCE)
    assert "campaigns.a.recordings.enabled: preset cn-insurance requires every call recorded" in message
    message = problems(tmp_path, BASE + INSURANCE + RECORDED + "[campaigns.a.recordings]\nenabled = false\n")
    assert "campaigns.a.recordings.enabled" in message


def test_a_retention_shorter_than_the_presets_is_refused(tmp_path):
    message = problems(tmp_path, BASE + INSURANCE + "[recordings]\nenabled = true\nretention_days = 90\n")
    assert ("campaigns.a.recordings.retention_days: 90 days is shorter than the 1827 days preset cn-insurance "
            "keeps recordings") in message
    assert "set retention_days = 1827 or more" in message


def test_purge_keeps_recordings_as_long_as_the_preset_says(tmp_path):
    config = load(tmp_path, BASE + INSURANCE + RECORDED + """
[campaigns.b]
trunk = "t"
caller_id = '"Acme" <+14155550100>'
[campaigns.b.recordings]
retention_days = 30
""")
    assert retention_days(config, "a") == 1900
    assert retention_days(config, "b") == 30
    # A campaign gone from the config may have been under the preset: the longest minimum applies.
    assert retention_days(config, "gone") == 1900
    assert retention_days(config.model_copy(update={"recordings": config.recordings.model_copy(
        update={"retention_days": 1000})}), "gone") == 1827


def test_a_users_preset_folder_is_read_relative_to_the_config(tmp_path):
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "acme.toml").write_text("""
name = "acme"
title = "Acme house rules"
kind = "sector"
regions = ["CN"]
last_checked = 2026-11-30
[[rules]]
id = "retention"
type = "retention_min"
days = 3000
source = { authority = "Acme handbook", section = "s. 9", in_force = 2025-01-01 }
""")
    text = '[presets]\ndir = "presets"\n' + BASE + '[campaigns.a.compliance]\npresets = ["acme"]\n' + RECORDED
    assert "3000 days preset acme keeps recordings (s. 9)" in problems(tmp_path, text)
    (tmp_path / "presets" / "acme.toml").write_text("name = 'acme'\n")
    assert "presets.dir: " in problems(tmp_path, text)
    assert "acme.toml: title: Field required" in problems(tmp_path, text)


def test_a_missing_recordings_alert_names_the_preset_that_requires_it(tmp_path):
    from dialer.recordings.retention import required_by_preset

    config = load(tmp_path, BASE + INSURANCE + RECORDED + "[campaigns.b]\ntrunk = 't'\ncaller_id = '+14155550100'\n")
    assert required_by_preset(config, "a") == (
        "; preset cn-insurance requires every call recorded (保监发〔2017〕54号)")
    assert required_by_preset(config, "b") == ""
    assert required_by_preset(config, "gone") == ""
