"""The [mqtt] section: every key documented in the example, secrets from files/credentials/env only."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from dialer.config import ConfigError, load_config
from dialer.mqtt.config import MqttConfig

EXAMPLE = Path(__file__).parents[2] / "config" / "dialer.example.toml"
BASE = """
[trunks.carrier]
channel = "PJSIP/{number}@carrier"
[campaigns.spring]
trunk = "carrier"
caller_id = '"Acme" <+14155550100>'
"""
ENV = {"DIALER_AMI_SECRET": "ami"}


def _keys(model: type[BaseModel], prefix: str) -> list[tuple[str, str]]:
    out = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out += _keys(annotation, f"{prefix}.{name}")
        else:
            out.append((prefix, name))
    return out


def test_every_mqtt_key_is_in_the_example_config_with_a_comment():
    text = EXAMPLE.read_text()
    sections = re.split(r"^\[([^\]]+)\]\s*$", text, flags=re.M)
    bodies = dict(zip(sections[1::2], sections[2::2], strict=True))
    for section, key in _keys(MqttConfig, "mqtt"):
        body = bodies[section]
        assert re.search(rf"^#? ?{key} = ", body, flags=re.M), f"{section}.{key} is not in the example"
    config = load_config(EXAMPLE, environ=ENV)
    assert config.mqtt == MqttConfig()  # the example shows the defaults, and MQTT is off


def write(tmp_path: Path, mqtt: str) -> Path:
    path = tmp_path / "dialer.toml"
    path.write_text(BASE + "\n[mqtt]\n" + mqtt)
    return path


def test_the_secret_comes_from_a_file_a_credential_or_the_environment(tmp_path):
    secret = tmp_path / "mqtt-secret"
    secret.write_text("from-file\n")
    os.chmod(secret, 0o600)
    config = load_config(write(tmp_path, f'enabled = true\nusername = "dialer"\nsecret_file = "{secret}"\n'),
                         environ=ENV)
    assert config.mqtt.secret is not None
    assert config.mqtt.secret.get_secret_value() == "from-file"

    creds = tmp_path / "creds"
    creds.mkdir()
    for name, value in (("mqtt-secret", "from-credential"), ("ami-secret", "ami")):
        (creds / name).write_text(value + "\n")
        os.chmod(creds / name, 0o400)
    config = load_config(write(tmp_path, 'enabled = true\nusername = "dialer"\n'),
                         environ={**ENV, "CREDENTIALS_DIRECTORY": str(creds)})
    assert config.mqtt.secret is not None
    assert config.mqtt.secret.get_secret_value() == "from-credential"

    config = load_config(write(tmp_path, 'enabled = true\nusername = "dialer"\n'),
                         environ={**ENV, "DIALER_MQTT_SECRET": "from-env"})
    assert config.mqtt.secret is not None
    assert config.mqtt.secret.get_secret_value() == "from-env"
    assert "from-env" not in repr(config)
    assert "from-env" not in config.model_dump_json()


@pytest.mark.parametrize(("mqtt", "message"), [
    ('enabled = true\nusername = "dialer"\n', "mqtt: username 'dialer' has no secret"),
    ('secret = "hunter2"\n', "mqtt.secret: the secret may not be written in the config"),
    ('prefix = "dialer/pbx1"\n', "mqtt.prefix: must end with '/'"),
    ('prefix = "dialer/+/"\n', "mqtt.prefix: may not contain the wildcards"),
    ("qos = 0\n", "mqtt.qos: Input should be 1 or 2"),
    ('[mqtt.tls]\ncert_file = "/x.pem"\n', "mqtt.tls: Value error, cert_file and key_file go together"),
    ("[mqtt.outbox]\nwarn_rows = 2000000\n", "mqtt.outbox: Value error, warn_rows must be below max_rows"),
    ("hots = 'x'\n", "mqtt.hots: unknown key"),
])
def test_errors_name_the_mqtt_key_and_the_reason(tmp_path, mqtt, message):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, mqtt), environ=ENV)
    assert message.replace("Value error, ", "") in str(info.value)
    assert "hunter2" not in str(info.value)


def test_a_secret_file_readable_by_others_is_refused(tmp_path):
    secret = tmp_path / "mqtt-secret"
    secret.write_text("s\n")
    os.chmod(secret, 0o644)
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, f'enabled = true\nusername = "u"\nsecret_file = "{secret}"\n'), environ=ENV)
    assert "mqtt.secret_file" in str(info.value)
    assert "readable by other users" in str(info.value)
