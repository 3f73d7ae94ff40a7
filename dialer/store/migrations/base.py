"""The migration record."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: `version` is applied once, in order, inside one transaction."""

    version: int
    description: str
    sql: str
