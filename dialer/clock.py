"""Time, injectable: wall-clock unix seconds for records, monotonic seconds for timers."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """What the pipeline asks of time."""

    def now(self) -> float:
        """Wall-clock time, unix seconds (UTC)."""
        ...

    def monotonic(self) -> float:
        """A clock that never goes back, for intervals."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        """Wall-clock time, unix seconds."""
        return time.time()

    def monotonic(self) -> float:
        """time.monotonic()."""
        return time.monotonic()


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._mono = 1000.0

    def now(self) -> float:
        """The fake wall-clock time."""
        return self._now

    def monotonic(self) -> float:
        """The fake monotonic time."""
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move both clocks forward."""
        self._now += seconds
        self._mono += seconds


def to_datetime(unix_s: float) -> datetime:
    """Unix seconds -> aware UTC datetime (what the gate takes)."""
    return datetime.fromtimestamp(unix_s, UTC)
