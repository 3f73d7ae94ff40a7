"""Load the TOML config: every problem names its key path and reason; secrets from files only."""

from __future__ import annotations

import json
import os
import stat
import tomllib
from collections.abc import Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from dialer.compliance.policy import PolicyError
from dialer.config import checks
from dialer.config.models import Config
from dialer.web.config import CREDENTIAL_WEB_TOKEN

CREDENTIAL_AMI_SECRET = "ami-secret"
CREDENTIAL_MQTT_SECRET = "mqtt-secret"


class ConfigError(Exception):
    """The config cannot be used; `problems` lists `key.path: reason` lines."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))

    def __str__(self) -> str:
        return "\n".join(f"{self.source}: {problem}" for problem in self.problems)


def load_config(
    path: Path, *, require_secret: bool = True, environ: Mapping[str, str] | None = None
) -> Config:
    """Read, validate and resolve the config file at `path`."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(str(path), ["not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"TOML syntax error: {exc}"]) from None
    return parse_config(data, source=str(path), require_secret=require_secret, environ=environ,
                        base_dir=path.parent)


def parse_config(
    data: Mapping[str, Any],
    *,
    source: str = "<config>",
    require_secret: bool = True,
    environ: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> Config:
    """Validate a parsed TOML mapping into a Config (with the AMI secret resolved)."""
    if "secret" in data.get("ami", {}):
        raise ConfigError(source, [
            "ami.secret: the secret may not be written in the config; use ami.secret_file, the systemd "
            f"credential {CREDENTIAL_AMI_SECRET!r} or the environment variable named by ami.secret_env"
        ])
    if "token" in data.get("web", {}):
        raise ConfigError(source, [
            "web.token: the token may not be written in the config; use web.token_file, the systemd "
            f"credential {CREDENTIAL_WEB_TOKEN!r} or the environment variable named by web.token_env"
        ])
    if "secret" in data.get("mqtt", {}):
        raise ConfigError(source, [
            "mqtt.secret: the secret may not be written in the config; use mqtt.secret_file, the systemd "
            f"credential {CREDENTIAL_MQTT_SECRET!r} or the environment variable named by mqtt.secret_env"
        ])
    early = checks.raw_problems(data)
    try:
        # Strict, as TOML's own types: no "5039" for a port, no 1 for true. Validating the JSON form
        # keeps what TOML cannot say otherwise (paths, enum names) as the strings they are.
        config = Config.model_validate_json(json.dumps(data, default=_json_value), strict=True)
    except ValidationError as exc:
        errors = [(_path(err), checks.describe_error(err)) for err in exc.errors()]
        lines = [f"{path}: {reason}" for path, reason in early.items()]
        lines += [f"{path}: {reason}" if path else reason for path, reason in errors
                  if not any(path.startswith(known) for known in early)]
        raise ConfigError(source, lines) from None
    if early:
        raise ConfigError(source, [f"{path}: {reason}" for path, reason in early.items()])
    problems = []
    for name in config.campaigns:
        try:
            config.compliance_for(name)
        except PolicyError as exc:
            problems += [f"campaigns.{name}.compliance.{key}: {reason}" for key, reason in exc.problems]
    if problems:
        raise ConfigError(source, problems)
    if base_dir is not None:
        config = relative_to(config, base_dir)  # before the preset folder is read
    problems = checks.problems(config, data)
    if problems:
        raise ConfigError(source, problems)
    if require_secret:
        env = os.environ if environ is None else environ
        secret = resolve_ami_secret(config, env, source)
        config = config.model_copy(update={"ami": config.ami.model_copy(update={"secret": secret})})
        if config.mqtt.enabled and config.mqtt.username is not None:
            mqtt_secret = resolve_mqtt_secret(config, env, source)
            config = config.model_copy(update={"mqtt": config.mqtt.model_copy(update={"secret": mqtt_secret})})
        if config.web.enabled:
            token = resolve_web_token(config, env, source)
            config = config.model_copy(update={"web": config.web.model_copy(update={"token": token})})
    return config


def _json_value(value: object) -> object:
    """TOML's dates and times (and a caller's Path or set) in the JSON form the models read."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not a TOML value")


def _path(err: Mapping[str, Any]) -> str:
    return ".".join(str(part) for part in err.get("loc", ()))


def relative_to(model: Any, base_dir: Path) -> Any:
    """Every relative path of the config (secret files, the database, folders: any key) made relative
    to `base_dir`, the config file's folder, as a person reading the file expects."""
    update: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Path) and not value.is_absolute():
            update[name] = base_dir / value
        elif isinstance(value, BaseModel):
            resolved = relative_to(value, base_dir)
            if resolved is not value:
                update[name] = resolved
        elif isinstance(value, dict) and any(isinstance(v, BaseModel) for v in value.values()):
            items = {k: relative_to(v, base_dir) if isinstance(v, BaseModel) else v for k, v in value.items()}
            if any(items[k] is not value[k] for k in value):
                update[name] = items
    return model.model_copy(update=update) if update else model


def resolve_ami_secret(config: Config, environ: Mapping[str, str], source: str) -> SecretStr:
    """The AMI secret from ami.secret_file, then $CREDENTIALS_DIRECTORY/ami-secret, then the env var."""
    candidates: list[Path] = []
    if config.ami.secret_file is not None:
        candidates.append(config.ami.secret_file)
    elif environ.get("CREDENTIALS_DIRECTORY"):
        candidates.append(Path(environ["CREDENTIALS_DIRECTORY"]) / CREDENTIAL_AMI_SECRET)
    for path in candidates:
        return SecretStr(read_secret_file(path, "ami.secret_file", source))
    value = environ.get(config.ami.secret_env, "")
    if value:
        return SecretStr(value)
    raise ConfigError(source, [
        f"ami: no secret: set ami.secret_file, provide the systemd credential {CREDENTIAL_AMI_SECRET!r} "
        f"(LoadCredential=), or set the environment variable {config.ami.secret_env}"
    ])


def resolve_mqtt_secret(config: Config, environ: Mapping[str, str], source: str) -> SecretStr:
    """The broker password, found like the AMI secret: mqtt.secret_file, then
    $CREDENTIALS_DIRECTORY/mqtt-secret, then the env var named by mqtt.secret_env."""
    mqtt = config.mqtt
    if mqtt.secret_file is not None:
        return SecretStr(read_secret_file(mqtt.secret_file, "mqtt.secret_file", source))
    if environ.get("CREDENTIALS_DIRECTORY"):
        path = Path(environ["CREDENTIALS_DIRECTORY"]) / CREDENTIAL_MQTT_SECRET
        if path.exists():
            return SecretStr(read_secret_file(path, "mqtt.secret_file", source))
    value = environ.get(mqtt.secret_env, "")
    if value:
        return SecretStr(value)
    raise ConfigError(source, [
        f"mqtt: username {mqtt.username!r} has no secret: set mqtt.secret_file, provide the systemd credential "
        f"{CREDENTIAL_MQTT_SECRET!r} (LoadCredential=), or set the environment variable {mqtt.secret_env}"
    ])


def resolve_web_token(config: Config, environ: Mapping[str, str], source: str) -> SecretStr | None:
    """The wallboard's access token: web.token_file, then $CREDENTIALS_DIRECTORY/web-token, then the
    env var named by web.token_env. None only on a loopback address; elsewhere a token is required."""
    web = config.web
    if web.token_file is not None:
        return SecretStr(read_secret_file(web.token_file, "web.token_file", source))
    if environ.get("CREDENTIALS_DIRECTORY"):
        path = Path(environ["CREDENTIALS_DIRECTORY"]) / CREDENTIAL_WEB_TOKEN
        if path.exists():
            return SecretStr(read_secret_file(path, "web.token_file", source))
    value = environ.get(web.token_env, "")
    if value:
        return SecretStr(value)
    if web.loopback:
        return None
    raise ConfigError(source, [
        f"web.address: {web.address} is reachable from other hosts, so the page needs a token: set "
        f"web.token_file, provide the systemd credential {CREDENTIAL_WEB_TOKEN!r} (LoadCredential=), or set "
        f"the environment variable {web.token_env} (or keep address = \"127.0.0.1\")"
    ])


def read_secret_file(path: Path, key: str, source: str) -> str:
    """Read a one-line secret; refuse a file that other users can read."""
    try:
        mode = path.stat().st_mode
        if mode & stat.S_IROTH:
            raise ConfigError(source, [
                f"{key}: {path} is readable by other users (mode {stat.S_IMODE(mode):04o}); "
                "chmod o-r it (0600 or 0640)"
            ])
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(source, [f"{key}: cannot read {path}: {exc.strerror}"]) from None
    if not value:
        raise ConfigError(source, [f"{key}: {path} is empty"])
    return value
