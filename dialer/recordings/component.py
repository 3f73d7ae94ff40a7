"""The daemon's `recordings` component: the engine hooks and the archiver, built from a DaemonContext."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dialer.recordings.archiver import Archiver
from dialer.recordings.integration import install

if TYPE_CHECKING:
    from dialer.daemon import DaemonContext


def recordings_component(context: DaemonContext) -> Archiver:
    """Always built: with recordings off the hooks pass DIALER_RECORD=0, and the archiver still
    finishes rows left pending and purges what earlier recordings left past their retention."""
    archiver = Archiver(context.engine, context.db, context.clock)
    install(context.engine, archiver.wake)
    return archiver
