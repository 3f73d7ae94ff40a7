"""Alerts: conditions a person must act on (recording missing, registry stale, AMI down, ...).

Any part of the daemon raises one with `engine.alert(kind, message, **data)`: it is logged at
warning level at once, and handed to every alert hook (the MQTT outbox publishes them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert: a stable kind (`recording_missing`, `registry_stale`, `abandon_rate_limit`,
    `ami_down`, `storage_error`, ...), a human message (no full numbers), and details."""

    kind: str
    message: str
    at: float
    data: Mapping[str, Any] = field(default_factory=dict)


AlertHook = Callable[[Alert], None]
