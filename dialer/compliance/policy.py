"""Compliance settings: global defaults in `[compliance]`, narrowed per campaign."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CompliancePolicy(BaseModel):
    """The rules' settings for one campaign (or the global defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_countries: tuple[str, ...] = Field(
        default=(), description="ISO region codes a campaign may call; empty = any country"
    )
    blocked_number_types: tuple[str, ...] = Field(
        default=("premium_rate", "shared_cost", "uan", "personal_number", "pager", "voicemail"),
        description="phonenumbers number types never called",
    )
