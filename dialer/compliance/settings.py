"""The `[dnc]` config section: where national registry files live and how often the daemon looks."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

REGISTRY_SUFFIX = ".dncreg"


class DncConfig(BaseModel):
    """Registry files and the daemon's refresh of what `dialer dnc` changes while it runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    registry_dir: Path | None = Field(
        default=None, description="compact registry files; default: `registries/` next to the database"
    )
    refresh_interval_s: float = Field(
        default=5.0, gt=0, le=3600,
        description="how often the daemon checks registry files (swapped by `dnc import`) and their age",
    )
    optout_scope: Literal["all", "campaign"] = Field(
        default="all",
        description="an opt-out during a call covers every campaign (all) or only the calling one",
    )


def registry_dir(dnc: DncConfig, database_path: Path) -> Path:
    """The folder holding the compact registry files."""
    return dnc.registry_dir if dnc.registry_dir is not None else database_path.parent / "registries"


def registry_path(folder: Path, name: str) -> Path:
    """The compact file of registry `name` inside `folder`."""
    return folder / f"{name}{REGISTRY_SUFFIX}"
