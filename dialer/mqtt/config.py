"""The `[mqtt]` config section. Every key is documented in config/dialer.example.toml."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttTlsConfig(_Strict):
    """TLS to the broker: server verification (system CAs or `ca_file`) and an optional client certificate."""

    enabled: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    verify_hostname: bool = True

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> MqttTlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (a client certificate needs its key)")
        return self


class MqttOutboxConfig(_Strict):
    """How the outbox is drained and bounded."""

    batch: int = Field(default=500, ge=1, le=10_000, description="rows read from the table per query")
    inflight: int = Field(default=100, ge=1, le=65_535, description="publishes awaiting PUBACK at once")
    retention_s: float = Field(default=3600.0, ge=0, description="published rows are deleted after this")
    max_rows: int = Field(default=1_000_000, ge=100, description="hard size limit of the table")
    warn_rows: int = Field(default=100_000, ge=1, description="an unpublished backlog above this raises an alert")
    prune_interval_s: float = Field(default=30.0, gt=0)
    stop_timeout_s: float = Field(default=5.0, ge=0, description="how long a stop waits for the backlog to drain")

    @model_validator(mode="after")
    def _warn_below_max(self) -> MqttOutboxConfig:
        if self.warn_rows >= self.max_rows:
            raise ValueError("warn_rows must be below max_rows")
        return self


class MqttVerbs(_Strict):
    """Which command verbs this node accepts: each one can be switched off on its own."""

    status: bool = True
    pause: bool = True
    resume: bool = True
    stop: bool = True
    add_leads: bool = True
    add_dnc: bool = True


class MqttLimits(_Strict):
    """How much the commands may do: per message and per rolling minute (node-wide, every sender)."""

    add_leads_per_message: int = Field(default=1000, ge=1, le=1000)
    add_leads_per_minute: int = Field(default=10_000, ge=1)
    add_dnc_per_message: int = Field(default=1000, ge=1, le=1000)
    add_dnc_per_minute: int = Field(default=10_000, ge=1)
    commands_per_minute: int = Field(default=600, ge=1, description="commands of every verb together")


class MqttConfig(_Strict):
    """The MQTT broker connection, topics and payload options. Off unless `enabled = true`."""

    enabled: bool = False
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = Field(default=None, min_length=1)
    secret_file: Path | None = None
    secret_env: str = "DIALER_MQTT_SECRET"
    secret: SecretStr | None = Field(default=None, exclude=True)
    client_id: str | None = Field(default=None, pattern=r"[A-Za-z0-9_.:-]{1,64}")
    keepalive_s: int = Field(default=30, ge=5, le=65535)
    tls: MqttTlsConfig = MqttTlsConfig()
    prefix: str | None = None
    qos: Literal[1, 2] = 1
    include_numbers: bool = False
    commands: bool = True
    # MQTT gives a subscriber no way to tell who published a message: commands are only as safe as
    # the broker's authentication and ACL, so they are refused over an anonymous connection.
    allow_unauthenticated_commands: bool = False
    verbs: MqttVerbs = MqttVerbs()
    limits: MqttLimits = MqttLimits()
    stats_interval_s: float = Field(default=5.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    ack_timeout_s: float = Field(default=30.0, gt=0)
    reconnect_initial_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    outbox: MqttOutboxConfig = MqttOutboxConfig()

    @field_validator("prefix")
    @classmethod
    def _topic_prefix(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.endswith("/") or value.startswith("/") or "//" in value:
            raise ValueError("must end with '/' and have no empty level, e.g. 'dialer/pbx1/'")
        if any(ch in value for ch in "+#\0") or not value.isprintable():
            raise ValueError("may not contain the wildcards + or #, NUL or control characters")
        return value

    def topic_prefix(self, node: str) -> str:
        """The prefix in force: `prefix`, or `dialer/<node>/`."""
        return self.prefix if self.prefix is not None else f"dialer/{node}/"

    def identifier(self, node: str) -> str:
        """The MQTT client id: `client_id`, or `dialer-<node>`."""
        return self.client_id or f"dialer-{node}"

    @property
    def authenticated(self) -> bool:
        """True when the dialer logs in to the broker with a username or a TLS client certificate."""
        return self.username is not None or (self.tls.enabled and self.tls.cert_file is not None)

    @property
    def commands_accepted(self) -> bool:
        """True when commands are on and may be taken from this broker connection."""
        return self.enabled and self.commands and (self.authenticated or self.allow_unauthenticated_commands)

    def warnings(self) -> list[str]:
        """What `check-config` and the daemon's start say about this section (empty when all is well)."""
        if not self.enabled or not self.commands:
            return []
        if not self.authenticated and self.allow_unauthenticated_commands:
            return ["mqtt.allow_unauthenticated_commands = true: commands are taken from an unauthenticated "
                    "broker connection, so anyone who can publish on the broker can pause campaigns and add "
                    "leads and DNC entries; give the dialer a broker user (mqtt.username) or a TLS client "
                    "certificate, and an ACL (config/mosquitto/dialer.acl)"]
        if not self.authenticated:
            return ["MQTT commands are refused: the broker connection is not authenticated (no mqtt.username, "
                    "no TLS client certificate); set one up with an ACL (config/mosquitto/), or set "
                    "mqtt.commands = false to silence this"]
        return []
