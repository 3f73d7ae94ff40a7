"""The `[metrics]` config section (kept free of imports from the rest of the package:
`dialer.config.models` imports it). Every key is documented in config/dialer.example.toml."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from dialer.addresses import ListenAddress


class MetricsConfig(BaseModel):
    """The Prometheus endpoint: off unless enabled, on the loopback address unless told otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    address: ListenAddress = "127.0.0.1"
    port: int = Field(default=9822, ge=0, le=65535, description="0 picks a free port (logged)")
