"""Call events: the one shape in which the engine tells the rest of the daemon what calls do.

Hooks receive them twice: inside the database transaction that records the change (`tx_hooks`,
on the database thread, for rows that must commit with it: the MQTT outbox, pending recordings),
and after the commit on the event loop (`event_hooks`: metrics, recordings, notifications).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dialer.outcome import Disposition
from dialer.tracker import CallState


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One state change of one call attempt."""

    call_id: str
    attempt_id: int
    lead_id: int
    campaign: str
    number: str  # E.164; mask it before it leaves the process
    state: CallState
    at: float  # unix s
    originated_at: float
    answered_at: float | None = None
    disposition: Disposition | None = None
    reason: int | None = None
    cause: int | None = None
    talk_s: float | None = None
    detail: str = ""
    recording: str | None = None  # where Asterisk writes (or wrote) the recording
    recording_closed: bool = False  # MixMonitorStop seen: Asterisk has closed the file
    amd_status: str | None = None
    opted_out: bool = False
    callback_requested: bool = False  # the callee asked to be called back (dialplan UserEvent)
    medium: str = "call"  # "sms" for a text message (its states: originating, then ended)

    @property
    def final(self) -> bool:
        """True for the event that ends the call."""
        return self.state is CallState.ENDED


TxHook = Callable[[sqlite3.Connection, Sequence[CallEvent]], None]
EventHook = Callable[[Sequence[CallEvent]], None]
