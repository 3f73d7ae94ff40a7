"""The `[recordings]` section and the per-campaign `[campaigns.NAME.recordings]` overrides.

Kept free of imports from the rest of the package: `dialer.config.models` imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# A sound name as Playback() takes it: no commas (argument separator), no '&' (file list separator).
_SOUND = r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,199}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecordingsConfig(_Strict):
    """Where Asterisk writes recordings, where the dialer archives them, and for how long."""

    enabled: bool = False
    spool_dir: Path = Path("/var/spool/asterisk/monitor/dialer")
    local_spool_dir: Path | None = None
    archive_dir: Path = Path("/var/lib/dialer/recordings")
    retention_days: int = Field(default=90, ge=1, le=36500)
    on_storage_error: Literal["continue", "pause"] = "continue"
    duration_tolerance_s: float = Field(default=3.0, ge=0)
    settle_s: float = Field(default=1.0, gt=0)
    close_timeout_s: float = Field(default=30.0, gt=0)
    retry_interval_s: float = Field(default=30.0, gt=0)
    purge_interval_s: float = Field(default=3600.0, gt=0)
    announcement: str = Field(default="", pattern=f"^(|{_SOUND})$")

    @field_validator("spool_dir")
    @classmethod
    def _absolute_for_asterisk(cls, value: Path) -> Path:
        # MixMonitor puts a relative file name under Asterisk's own monitor directory, not here.
        if not value.is_absolute():
            raise ValueError("must be an absolute path (it is the folder as Asterisk sees it)")
        return value

    @property
    def local_spool(self) -> Path:
        """The spool folder as this process sees it."""
        return self.local_spool_dir or self.spool_dir

    def resolved(self, base_dir: Path) -> RecordingsConfig:
        """Relative archive and local spool paths made relative to the config file's folder."""
        update: dict[str, Path] = {}
        if not self.archive_dir.is_absolute():
            update["archive_dir"] = base_dir / self.archive_dir
        if self.local_spool_dir is not None and not self.local_spool_dir.is_absolute():
            update["local_spool_dir"] = base_dir / self.local_spool_dir
        return self.model_copy(update=update) if update else self


class CampaignRecordings(_Strict):
    """A campaign's own recording settings; a key left out takes the `[recordings]` value."""

    enabled: bool | None = None
    retention_days: int | None = Field(default=None, ge=1, le=36500)
    announcement: str | None = Field(default=None, pattern=f"^(|{_SOUND})$")


def campaign_settings(
    global_: RecordingsConfig, own: CampaignRecordings | None
) -> tuple[bool, int, str]:
    """(enabled, retention_days, announcement) for a campaign, its overrides applied."""
    if own is None:
        return global_.enabled, global_.retention_days, global_.announcement
    return (
        global_.enabled if own.enabled is None else global_.enabled and own.enabled,
        global_.retention_days if own.retention_days is None else own.retention_days,
        global_.announcement if own.announcement is None else own.announcement,
    )
