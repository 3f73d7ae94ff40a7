"""The `[metrics]` config section (kept free of imports from the rest of the package:
`dialer.config.models` imports it). Every key is documented in config/dialer.example.toml."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, field_validator


class MetricsConfig(BaseModel):
    """The Prometheus endpoint: off unless enabled, on the loopback address unless told otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    address: str = "127.0.0.1"
    port: int = Field(default=9822, ge=0, le=65535, description="0 picks a free port (logged)")

    @field_validator("address")
    @classmethod
    def _ip_address(cls, value: str) -> str:
        if value != "localhost":
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError("must be an IP address such as 127.0.0.1 or ::1 (or localhost)") from None
        return value
