"""Callbacks: a lead made due again at a chosen time, asked for by a person or by the callee.

A callback changes no rule: it sets the lead's next attempt time (and raises its priority so it is
claimed first once due), and the lead then meets the gate like any other. If the calling window is
closed at that time, the gate defers it to the next opening; if the number is on a DNC list by
then, the gate blocks it. The callback is marked `fired` by the attempt that starts at or after
its time, and the lead's own priority comes back then.

Everything here runs on the database thread inside a write transaction (`tx.run` or an engine
tx hook): plain sqlite3, no awaits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from dialer.crm.config import CallbackPolicy
from dialer.events import CallEvent
from dialer.store import crm as crm_store
from dialer.store.states import LeadStatus
from dialer.tracker import CallState

CALLBACK_PRIORITY = 1_000_000  # above any priority an import gives: a due callback is claimed first
Source = Literal["cli", "dialplan"]


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """Call this lead back at `due_at` (unix s)."""

    lead_id: int
    due_at: float
    source: Source
    requested_by: str
    call_id: str | None = None  # the call in which the callee asked


def schedule(conn: sqlite3.Connection, request: CallbackRequest, now: float) -> int | None:
    """Record the callback and make its lead due then; returns its id (None if the lead is gone).

    A new callback replaces a pending one of the same lead. A lead whose number is invalid stays
    as it is (there is nothing to dial); a lead with a live call keeps its state, and the call's
    outcome makes it due at the callback time (`reopen_after_final`).
    """
    lead = crm_store.lead_ref(conn, request.lead_id)
    if lead is None:
        return None
    campaign, status, priority = lead.campaign_id, lead.status, lead.priority
    earlier = conn.execute(
        "SELECT lead_priority FROM callbacks WHERE lead_id = ? AND status = 'pending' ORDER BY id LIMIT 1",
        (request.lead_id,)).fetchone()
    own_priority = earlier[0] if earlier is not None else priority  # an earlier callback raised it already
    conn.execute("UPDATE callbacks SET status = 'cancelled' WHERE lead_id = ? AND status = 'pending'",
                 (request.lead_id,))
    cursor = conn.execute(
        "INSERT INTO callbacks (lead_id, campaign_id, due_at, source, call_id, requested_by, created_at, status, "
        "lead_priority) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
        (request.lead_id, campaign, request.due_at, request.source, request.call_id, request.requested_by, now,
         own_priority))
    _make_due(conn, request.lead_id, status, request.due_at, now)
    return int(cursor.lastrowid or 0)


def _make_due(conn: sqlite3.Connection, lead_id: int, status: LeadStatus, due_at: float, now: float) -> None:
    if status is LeadStatus.INVALID:
        return
    crm_store.make_due(conn, lead_id, due_at, CALLBACK_PRIORITY, now)


def fire(conn: sqlite3.Connection, started: Sequence[tuple[int, str, float]]) -> int:
    """Attempts that started, as (lead id, call id, time): each due callback of their lead is fired
    and the lead gets its own priority back. Returns how many fired."""
    fired = 0
    for lead_id, call_id, at in started:
        row = conn.execute(
            "SELECT id, lead_priority FROM callbacks WHERE lead_id = ? AND status = 'pending' AND due_at <= ? "
            "ORDER BY id LIMIT 1", (lead_id, at)).fetchone()
        if row is None:
            continue
        conn.execute("UPDATE callbacks SET status = 'fired', fired_call_id = ?, fired_at = ? WHERE id = ?",
                     (call_id, at, row[0]))
        crm_store.set_priority(conn, lead_id, row[1])
        fired += 1
    return fired


def reopen_after_final(conn: sqlite3.Connection, lead_ids: Sequence[int], now: float) -> None:
    """After calls ended: a lead with a pending callback is due at the callback's time, whatever
    the retry policy just decided (the callback was asked for during or before that call)."""
    for lead_id in lead_ids:
        row = conn.execute("SELECT due_at FROM callbacks WHERE lead_id = ? AND status = 'pending' "
                           "ORDER BY id DESC LIMIT 1", (lead_id,)).fetchone()
        status = crm_store.lead_status(conn, lead_id) if row is not None else None
        if row is not None and status is not None:
            _make_due(conn, lead_id, status, row[0], now)


class CallbackHook:
    """The engine tx hook: fires due callbacks as their attempts start, schedules the ones callees
    ask for (per the campaign's `callbacks` policy) as calls end."""

    def __init__(self, policies: Callable[[], Mapping[str, CallbackPolicy]]) -> None:
        self._policies = policies

    def __call__(self, conn: sqlite3.Connection, events: Sequence[CallEvent]) -> None:
        """Runs on the database thread inside the transaction that records `events`."""
        calls = [e for e in events if e.medium == "call"]
        started = [(e.lead_id, e.call_id, e.at) for e in calls if e.state is CallState.ORIGINATING]
        if started:
            fire(conn, started)
        ended = [e for e in calls if e.final]
        if not ended:
            return
        policies = self._policies()
        for event in ended:
            policy = policies.get(event.campaign)
            if event.callback_requested and not event.opted_out and policy is not None and policy.enabled:
                schedule(conn, CallbackRequest(event.lead_id, event.at + policy.delay_s, "dialplan", "callee",
                                               event.call_id), event.at)
        reopen_after_final(conn, [e.lead_id for e in ended], max(e.at for e in ended))
