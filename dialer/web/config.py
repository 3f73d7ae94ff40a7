"""The `[web]` config section (free of imports from the rest of the package: `dialer.config.models`
imports it). Every key is documented in config/dialer.example.toml."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from dialer.addresses import ListenAddress

CREDENTIAL_WEB_TOKEN = "web-token"


def is_loopback(address: str) -> bool:
    """True for an address only this host can reach (127.0.0.0/8, ::1, localhost)."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class WebConfig(BaseModel):
    """The wallboard: off unless enabled, on the loopback address unless told otherwise; a token is
    required on any other address (the loader refuses the config without one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    address: ListenAddress = "127.0.0.1"
    port: int = Field(default=9823, ge=0, le=65535, description="0 picks a free port (logged)")
    token_file: Path | None = None
    token_env: str = Field(default="DIALER_WEB_TOKEN", pattern=r"[A-Z][A-Z0-9_]{0,63}")
    token: SecretStr | None = Field(default=None, exclude=True)  # resolved by the loader, never written
    show_numbers: bool = False
    # A page whose queue holds this many undelivered updates is too slow: it is dropped (it reconnects).
    client_queue: int = Field(default=16, ge=1, le=1024)
    max_clients: int = Field(default=200, ge=1)

    @property
    def loopback(self) -> bool:
        """True when only this host can reach the page."""
        return is_loopback(self.address)
