"""Refusal lockout: a refusal under a preset that says so keeps the number from being called for a period.

cn-insurance: a customer who refuses is not called again for at least 6 months. A call that ends
with one of the preset's refusal dispositions (`opted_out` is the key press) puts the number on the
opt-out list with an expiry, in the same transaction that records the outcome, with its audit row;
the DNC sync brings it into the gate's index before the next claim. The entry covers every
campaign (the stricter reading: the refusal is to the caller, not to one list).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from dialer.compliance.preset_catalog import Applied
from dialer.compliance.preset_model import RefusalLockoutRule
from dialer.config import Config
from dialer.events import CallEvent
from dialer.numbers import mask
from dialer.store import compliance as store
from dialer.tasks import PartTasks

if TYPE_CHECKING:
    from dialer.daemon import DaemonContext

log = structlog.get_logger(__name__)

DAY_S = 86_400


def lockout_rules(config: Config, campaign: str) -> tuple[Applied[RefusalLockoutRule], ...]:
    """The refusal-lockout rules of the presets a campaign is under."""
    if campaign not in config.campaigns:
        return ()
    presets = config.compliance_for(campaign).presets
    return config.preset_catalog().campaign_rules(presets, RefusalLockoutRule) if presets else ()


def lockout_entries(config: Config, events: Sequence[CallEvent]) -> list[store.NewDncEntry]:
    """The opt-out entries (with expiry) that these events' refusals call for; the longest lockout wins."""
    entries: list[store.NewDncEntry] = []
    for event in events:
        if not event.final:
            continue
        refused = {event.disposition.value} if event.disposition is not None else set()
        if event.opted_out:
            refused.add("opted_out")
        matching = [a for a in lockout_rules(config, event.campaign) if refused & set(a.rule.dispositions)]
        if not matching:
            continue
        longest = max(matching, key=lambda a: a.rule.days)
        source = f"lockout:{longest.preset.name}/{longest.rule.id}:call:{event.call_id}"
        entries.append(store.NewDncEntry(event.number, store.DncKind.OPTOUT, None, source,
                                         expires_at=event.at + longest.rule.days * DAY_S))
    return entries


@dataclass
class RefusalLockout:
    """The engine tx hook that writes refusal lockouts, under the config in force (it follows reloads)."""

    config: Callable[[], Config]
    hash_key: bytes

    def on_events(self, conn: sqlite3.Connection, events: Sequence[CallEvent]) -> None:
        """Inside the outcome's transaction: put every refusing number on the opt-out list until it lapses."""
        entries = lockout_entries(self.config(), events)
        if not entries:
            return
        stamp = store.ChangeStamp("dialer", max(e.at for e in events), self.hash_key)
        store.add_dnc_in(conn, entries, stamp)
        for entry in entries:
            log.info("refusal_lockout", number=mask(entry.number), source=entry.source, until=entry.expires_at)


@dataclass
class LockoutComponent:
    """Attaches the lockout hook to the engine for the daemon's lifetime (removed again at stop)."""

    config: Config
    db: Any
    engine: Any
    name: str = "refusal-lockout"
    _hook: Any = field(default=None, repr=False)  # the bound method registered, to remove that one

    async def start(self, parts: PartTasks) -> None:
        """Register the tx hook (no task of its own to give `parts`)."""
        engine = self.engine
        self._hook = RefusalLockout(lambda: engine.config, await self.db.hash_key()).on_events
        self.engine.tx_hooks.append(self._hook)

    async def stop(self) -> None:
        """Unregister the tx hook."""
        if self._hook in self.engine.tx_hooks:
            self.engine.tx_hooks.remove(self._hook)


def lockout_component(ctx: DaemonContext) -> LockoutComponent:
    """The component; always there, since a reload may put a campaign under a preset with a lockout
    (without one, the hook returns at once)."""
    return LockoutComponent(ctx.config, ctx.db, ctx.engine)
