"""What the state and status columns of the core tables may hold, one enum per column.

The CHECK constraints in the migrations list the same values; `tests/store/test_core_tables.py`
checks that the two agree. Code outside the store passes and compares these members, never the
strings (a StrEnum member equals its value, so rows read back compare as they did before).
"""

from __future__ import annotations

from enum import StrEnum

from dialer.retry import LeadStatus

__all__ = ["AttemptState", "CampaignState", "LeadStatus", "Medium", "RecordingStatus"]


class CampaignState(StrEnum):
    """`campaigns.state`: whether the daemon dials the campaign."""

    ACTIVE = "active"
    PAUSED = "paused"  # no new attempts; live calls go on
    FINISHED = "finished"  # stopped for good (a new import makes it active again)


class AttemptState(StrEnum):
    """`attempts.state`: the stored image of the tracker's CallState (same values)."""

    ORIGINATING = "originating"
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


class Medium(StrEnum):
    """`attempts.medium`: how the attempt reaches the person."""

    CALL = "call"
    SMS = "sms"


class RecordingStatus(StrEnum):
    """`attempts.recording_status` and `recordings.status`."""

    PENDING = "pending"  # written with the call's outcome, not yet archived
    ARCHIVED = "archived"
    BROKEN = "broken"  # archived as it was, failed its check
    MISSING = "missing"  # never appeared in the spool
    PURGED = "purged"  # deleted by retention
    ERASED = "erased"  # deleted by `dialer forget` (attempts only)
