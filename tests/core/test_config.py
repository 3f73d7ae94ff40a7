"""Config errors name the key path and the reason; the secret comes from a file or the environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dialer.config import ConfigError, load_config

EXAMPLE = Path(__file__).parents[2] / "config" / "dialer.example.toml"

MINIMAL = """
[trunks.carrier]
channel = "PJSIP/{number}@carrier"

[campaigns.spring]
trunk = "carrier"
caller_id = '"Acme" <+14155550100>'
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dialer.toml"
    path.write_text(text)
    return path


def test_the_example_config_is_valid():
    config = load_config(EXAMPLE, environ={"DIALER_AMI_SECRET": "s"})
    assert config.campaigns


@pytest.mark.parametrize(("text", "message"), [
    (MINIMAL.replace('trunk = "carrier"', 'trunk = "nope"'),
     "campaigns.spring.trunk: unknown trunk 'nope' (defined: carrier)"),
    (MINIMAL + "\n[dialing.pacing]\nmax_concurrent_calls = 0\n",
     "dialing.pacing.max_concurrent_calls: Input should be greater than or equal to 1"),
    (MINIMAL + "\n[ami]\nprot = 5038\n", "ami.prot: unknown key"),
    (MINIMAL.replace("{number}", "{num}"), "trunks.carrier.channel: must contain {number} exactly once"),
    (MINIMAL + "\n[ami]\nsecret = 'x'\n", "ami.secret: the secret may not be written in the config"),
    ("[ami\n", "TOML syntax error"),
])
def test_errors_name_the_key_path_and_the_reason(tmp_path, text, message):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={"DIALER_AMI_SECRET": "s"})
    assert message in str(info.value)
    assert str(tmp_path / "dialer.toml") in str(info.value)


def test_secret_from_systemd_credentials_directory(tmp_path):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "ami-secret").write_text("from-credential\n")
    os.chmod(creds / "ami-secret", 0o400)
    config = load_config(write(tmp_path, MINIMAL), environ={"CREDENTIALS_DIRECTORY": str(creds)})
    assert config.ami.secret is not None
    assert config.ami.secret.get_secret_value() == "from-credential"


def test_secret_file_readable_by_others_is_refused(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret")
    os.chmod(secret, 0o644)
    with pytest.raises(ConfigError, match="readable by other users"):
        load_config(write(tmp_path, MINIMAL + f"\n[ami]\nsecret_file = '{secret}'\n"), environ={})


def test_missing_secret_says_where_to_put_it(tmp_path):
    with pytest.raises(ConfigError, match="DIALER_AMI_SECRET"):
        load_config(write(tmp_path, MINIMAL), environ={})


def test_secret_is_never_in_the_repr(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), environ={"DIALER_AMI_SECRET": "hunter2"})
    assert "hunter2" not in repr(config)
    assert "hunter2" not in config.model_dump_json()


def _keys(model: type, prefix: str = "") -> list[str]:
    """Every key path of a pydantic model (nested models included)."""
    from pydantic import BaseModel

    out = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        out.append(prefix + name)
        annotation = field.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                out += _keys(candidate, prefix + name + ".")
    return out


def test_every_config_key_is_documented_in_the_example():
    """A key missing from config/dialer.example.toml is a key nobody can find."""
    from dialer.config.models import CampaignConfig, Config

    text = EXAMPLE.read_text()
    words = set(text.replace("=", " ").replace("[", " ").replace("]", " ").replace(".", " ").split())
    words |= {w.lstrip("#") for w in words}
    missing = [key for key in _keys(Config) + _keys(CampaignConfig, "campaigns.NAME.")
               if key.rsplit(".", 1)[-1] not in words]
    assert missing == []
