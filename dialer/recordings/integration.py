"""The recordings' hooks into the engine: Originate variables, the pending row written in the same
transaction as the call's final outcome, and a wake-up for the archiver after the commit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence

import structlog

from dialer.config.models import CampaignConfig
from dialer.engine import Engine
from dialer.events import CallEvent
from dialer.recordings import store
from dialer.recordings.config import campaign_settings
from dialer.recordings.paths import UnsafePath, spool_file
from dialer.tracker import TrackedCall

log = structlog.get_logger("dialer.recordings")

REC_FILE_VAR = "DIALER_REC_FILE"
RECORD_VAR = "DIALER_RECORD"
ANNOUNCE_VAR = "DIALER_REC_ANNOUNCE"


class RecordingHooks:
    """Installed on an engine by `install`; reads the engine's current config (reloads apply)."""

    def __init__(self, engine: Engine, on_pending: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.on_pending = on_pending
        # Set when a transaction wrote pending recording rows: only then has the archiver news (with
        # recordings off, the default, it was woken to query an empty table after every answered call).
        self._wrote_pending = False

    def variables(self, call: TrackedCall, campaign: CampaignConfig) -> Mapping[str, str]:
        """Originate variables: where MixMonitor writes, the announcement, or DIALER_RECORD=0."""
        enabled, _, announcement = campaign_settings(self.engine.config.recordings, campaign.recordings)
        if not enabled:
            # The shipped dialplan then records nothing: no unmanaged files pile up in the spool.
            return {RECORD_VAR: "0"}
        variables = {RECORD_VAR: "1", REC_FILE_VAR: spool_file(self.engine.config.recordings, call.call_id)}
        if announcement:
            variables[ANNOUNCE_VAR] = announcement
        return variables

    def pending_rows(self, conn: sqlite3.Connection, events: Sequence[CallEvent]) -> None:
        """tx hook: an answered call's final outcome commits together with its pending recording.

        A failing database (locked, disk full) fails the whole transaction, which the engine retries
        with nothing lost. Any other error here is logged and swallowed: the outcome matters more
        than its recording's bookkeeping, and must never be held back by it.
        """
        try:
            self._pending_rows(conn, events)
        except sqlite3.OperationalError:
            raise
        except Exception:
            log.exception("recording_pending_rows_failed", calls=[e.call_id for e in events if e.final])

    def _pending_rows(self, conn: sqlite3.Connection, events: Sequence[CallEvent]) -> None:
        config = self.engine.config
        rows = []
        for event in events:
            if not event.final or event.answered_at is None:
                continue
            campaign = config.campaigns.get(event.campaign)
            enabled = campaign_settings(config.recordings, campaign.recordings if campaign else None)[0]
            if not enabled:
                continue
            try:
                source = event.recording or spool_file(config.recordings, event.call_id)
            except UnsafePath:
                continue  # not a call id of ours: nothing was recorded under it
            rows.append(store.NewPending(event.call_id, event.campaign, source, event.recording_closed,
                                         event.talk_s, event.at))
        if rows:
            store.insert_pending(conn, rows)
            self._wrote_pending = True

    def after_commit(self, events: Sequence[CallEvent]) -> None:
        """event hook: wake the archiver when a committed transaction added pending recordings."""
        if self._wrote_pending:
            self._wrote_pending = False
            if self.on_pending is not None:
                self.on_pending()


def install(engine: Engine, on_pending: Callable[[], None] | None = None) -> RecordingHooks:
    """Add the recordings' hooks to the engine (always: with recordings off they pass DIALER_RECORD=0)."""
    hooks = RecordingHooks(engine, on_pending)
    engine.variable_providers.append(hooks.variables)
    engine.tx_hooks.append(hooks.pending_rows)
    engine.event_hooks.append(hooks.after_commit)
    return hooks
