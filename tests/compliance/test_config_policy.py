"""Campaign policies in the config: narrowed from the global one, errors naming the key, every key documented."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from dialer.compliance import CompliancePolicy
from dialer.compliance.settings import DncConfig
from dialer.config import ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).parents[2] / "config" / "dialer.example.toml"
BASE = {
    "trunks": {"t": {"channel": "PJSIP/{number}@carrier"}},
    "campaigns": {"spring": {"trunk": "t", "caller_id": "+14155550100"}},
}


def config_with(campaign_policy: dict, global_policy: dict | None = None):
    data = {**BASE, "compliance": global_policy or {}}
    data["campaigns"] = {"spring": {**BASE["campaigns"]["spring"], "compliance": campaign_policy}}
    return parse_config(data, require_secret=False)


def test_a_campaign_policy_is_the_global_one_narrowed():
    config = config_with({"max_attempts_per_24h": 1, "require_consent": True}, {"min_attempt_gap_s": 7200})
    policy = config.compliance_for("spring")
    assert (policy.max_attempts_per_24h, policy.require_consent, policy.min_attempt_gap_s) == (1, True, 7200)
    assert config.compliance_for(None) == config.compliance
    assert config.compliance_for("spring") is policy  # narrowed once, not for every batch


@pytest.mark.parametrize(("override", "line"), [
    ({"max_attempts_per_24h": 9},
     "campaigns.spring.compliance.max_attempts_per_24h: 9 is looser than the global 3"),
    ({"calling_hours": {"mon": ["25:00-26:00"]}},
     "campaigns.spring.compliance.calling_hours.mon: calling hours '25:00-26:00' contain an impossible time"),
    ({"max_abandon_rate": 2}, "campaigns.spring.compliance.max_abandon_rate: Input should be less than or equal to 1"),
    ({"requre_consent": True}, "campaigns.spring.compliance.requre_consent: unknown key"),
    ({"skip_holidays": False}, "campaigns.spring.compliance.skip_holidays: False is looser than the global True"),
])
def test_a_bad_or_looser_campaign_policy_names_the_key(override, line):
    with pytest.raises(ConfigError) as caught:
        config_with(override)
    assert any(problem.startswith(line) for problem in caught.value.problems), caught.value.problems


def test_registry_dir_is_relative_to_the_config_file(tmp_path):
    path = tmp_path / "dialer.toml"
    path.write_text('[dnc]\nregistry_dir = "regs"\n')
    assert load_config(path, require_secret=False).dnc.registry_dir == tmp_path / "regs"


def test_the_example_config_documents_every_compliance_and_dnc_key():
    text = EXAMPLE.read_text()
    data = tomllib.loads(text)
    for section, model in (("compliance", CompliancePolicy), ("dnc", DncConfig)):
        body = text.split(f"[{section}]", 1)[1].split("\n[", 1)[0]
        for key in model.model_fields:
            assert re.search(rf"^#? ?{key} =", body, re.MULTILINE), f"[{section}] {key} is not in the example"
    assert data["compliance"]["required_registry_regions"] == []
