"""`check-config` catches at load time what would otherwise block every call, naming the key."""

from __future__ import annotations

import os
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from dialer.compliance.windows import WeeklyWindow
from dialer.config import Config, ConfigError, load_config, parse_config
from dialer.config.checks import subtract

BASE = """
[trunks.t]
channel = "PJSIP/{number}@t"
[campaigns.a]
trunk = "t"
caller_id = '"Acme" <+14155550100>'
"""


def problems(tmp_path: Path, text: str) -> str:
    path = tmp_path / "dialer.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, require_secret=False)
    return str(info.value)


@pytest.mark.parametrize(("extra", "message"), [
    ('[compliance]\nallowed_countries = ["US", "UK"]\n',
     "compliance.allowed_countries.1: 'UK' is not an ISO 3166 region code; did you mean GB?"),
    ('[compliance]\nallowed_countries = ["XX"]\n',
     "compliance.allowed_countries.0: 'XX' is not an ISO 3166 region code phonenumbers knows"),
    ('[compliance]\nrequired_registry_regions = ["us"]\n',
     "compliance.required_registry_regions.0: 'us': write region codes in capitals ('US')"),
    ('[sms]\ninbound_region = "UK"\n', "sms.inbound_region: 'UK' is not an ISO 3166 region code; did you mean GB?"),
    ('[ami]\nport = "5039"\n', "ami.port: Input should be a valid integer: '5039' is text; write a whole number"),
    ('[mqtt]\nenabled = 1\n', "mqtt.enabled: Input should be a valid boolean"),
    ('[dialing]\npoll_interval_s = "0.2"\n', "dialing.poll_interval_s: Input should be a valid number: '0.2' is text"),
    ('[dialing]\nclaim_batch = 2.5\n', "dialing.claim_batch: Input should be a valid integer: 2.5 is not a whole"),
])
def test_wrong_codes_and_types_are_errors_naming_the_key(tmp_path, extra, message):
    assert message in problems(tmp_path, BASE + extra)


def test_a_campaign_region_and_its_overrides_are_checked_too(tmp_path):
    text = BASE.replace('caller_id', 'default_region = "USA"\ncompliance = { allowed_countries = ["UK"], '
                        'max_attempts_per_24h = "2" }\ncaller_id')
    found = problems(tmp_path, text)
    assert "campaigns.a.default_region: 'USA' is not an ISO 3166 region code; did you mean US?" in found
    assert "campaigns.a.compliance.allowed_countries.0: 'UK' is not an ISO 3166 region code; did you mean GB?" in found
    assert "campaigns.a.compliance.max_attempts_per_24h: Input should be a valid integer: '2' is text" in found
    assert "pattern" not in found  # the model's own wording for the same key is not repeated


@pytest.mark.parametrize("caller_id", ["Acme <not a number>", "+1415", "911", '"Anonymous" <+14155550100>'])
def test_a_caller_id_the_gate_would_refuse_is_an_error_at_load(tmp_path, caller_id):
    text = BASE.replace("caller_id = '\"Acme\" <+14155550100>'", f"caller_id = '{caller_id}'")
    found = problems(tmp_path, text)
    assert "campaigns.a.caller_id: caller ID" in found
    assert "every call of the campaign would be blocked" in found


def test_an_sms_campaign_needs_no_caller_id(tmp_path):
    path = tmp_path / "dialer.toml"
    path.write_text(BASE + '[campaigns.s]\nkind = "sms"\nsms = { gateway = "g", template = "hi" }\n'
                    '[sms.gateways.g]\naction = "DongleSendSMS"\ndevice = "dongle0"\n')
    assert load_config(path, require_secret=False).campaigns["s"].caller_id == ""


WIDE = '[compliance]\nallowed_countries = ["US"]\ncalling_hours = { mon = ["07:30-21:00"], tue = ["09:00-20:00"] }\n'


def test_calling_hours_wider_than_the_preset_are_an_error(tmp_path):
    found = problems(tmp_path, BASE + WIDE)
    assert "compliance.calling_hours: opens outside the US preset (Mon–Sun 08:00–21:00): Mon 07:30–08:00" in found
    assert "override_country_hours = true" in found


def test_calling_hours_within_the_preset_or_an_explicit_override_load(tmp_path):
    path = tmp_path / "dialer.toml"
    path.write_text(BASE + WIDE.replace("07:30", "08:30"))
    assert load_config(path, require_secret=False).compliance.calling_hours is not None
    path.write_text(BASE + WIDE + "override_country_hours = true\n")
    assert load_config(path, require_secret=False).compliance.override_country_hours


def test_a_campaign_whose_own_hours_leave_its_country_preset_is_an_error(tmp_path):
    text = BASE.replace('caller_id', 'default_region = "FR"\ncompliance = { calling_hours = '
                        '{ mon = ["09:00-12:00"] } }\ncaller_id')
    found = problems(tmp_path, text)
    assert "campaigns.a.compliance.calling_hours: opens outside the FR preset" in found
    assert "Mon 09:00–10:00" in found


def test_subtract_leaves_exactly_the_hours_outside():
    hours = WeeklyWindow.from_ranges({"mon": ["07:00-22:00"], "sat": ["10:00-11:00"]})
    preset = WeeklyWindow.from_ranges({"mon": ["08:00-12:00", "13:00-21:00"], "sat": ["09:00-17:00"]})
    assert subtract(hours, preset).to_ranges()["mon"] == ("07:00-08:00", "12:00-13:00", "21:00-22:00")
    assert subtract(hours, preset).to_ranges()["sat"] == ()


def _path_fields(cls: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key of a Path type in the config's sections (found from the models, so a new one counts)."""
    found = []
    for name, field in cls.model_fields.items():
        if field.exclude:
            continue
        args = (field.annotation, *typing.get_args(field.annotation))
        if Path in args:
            found.append((*prefix, name))
        for arg in args:
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                found += _path_fields(arg, (*prefix, name))
    return found


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        data = data.setdefault(part, {})
    data[path[-1]] = value


def test_every_relative_path_is_relative_to_the_config_file(tmp_path, monkeypatch):
    paths = [p for p in _path_fields(Config) if p != ("recordings", "spool_dir")]  # Asterisk's view: absolute
    assert ("ami", "secret_file") in paths
    assert ("database", "path") in paths
    data: dict[str, Any] = {}
    for path in paths:
        _set(data, path, f"rel/{'-'.join(path)}")
    data.setdefault("mqtt", {}).setdefault("tls", {})["enabled"] = True
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (tmp_path / "etc" / "rel" / "presets-dir").mkdir(parents=True)  # a preset folder is read at load
    config = parse_config(data, require_secret=False, base_dir=tmp_path / "etc")
    for path in paths:
        value: Any = config
        for part in path:
            value = getattr(value, part)
        assert value == tmp_path / "etc" / "rel" / "-".join(path), path


def test_a_relative_secret_file_is_read_from_the_config_folder(tmp_path, monkeypatch):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "ami-secret").write_text("s3cret\n")
    os.chmod(etc / "ami-secret", 0o600)
    (etc / "dialer.toml").write_text(BASE + '[ami]\nsecret_file = "ami-secret"\n')
    monkeypatch.chdir(tmp_path)
    config = load_config(etc / "dialer.toml")
    assert config.ami.secret is not None
    assert config.ami.secret.get_secret_value() == "s3cret"
