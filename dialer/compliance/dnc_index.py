"""The in-memory DNC index: internal list, campaign lists, opt-outs and loaded national registries.

It answers "is this E.164 number blocked for this campaign at this instant, and by which list".
It is plain data fed by the store (no I/O besides mapping registry files); every mutation takes
effect for the next lookup, which is how an opt-out captured during a call stops the next call.
Expiries are unix seconds; an expired entry no longer blocks (and `purge_expired` drops it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from dialer.compliance.registry import Registry
from dialer.compliance.suppression import SuppressionList
from dialer.numbers import is_e164

_NEVER = float("inf")


class DncList(StrEnum):
    """Which list blocked a number; the values are the gate's rule ids."""

    ERASED = "dnc.erased"
    OPTOUT = "dnc.optout"
    INTERNAL = "dnc.internal"
    CAMPAIGN = "dnc.campaign"
    REGISTRY = "dnc.registry"


@dataclass(frozen=True, slots=True)
class DncHit:
    """A number found on a list: which list, its name (campaign or registry), and until when."""

    list: DncList
    name: str
    expires_at: float | None = None  # None = does not expire


def _check(e164: str) -> None:
    if not is_e164(e164):
        raise ValueError("DNC entries must be strict E.164 numbers")


def _live(expires: float, now_s: float) -> bool:
    return now_s < expires


def _expiry(value: float | None) -> float:
    return _NEVER if value is None else value


def _public(expires: float) -> float | None:
    return None if expires == _NEVER else expires


class DncIndex:
    """Every DNC list in memory, queried per number by the gate's dnc.* rules."""

    ALL_CAMPAIGNS = None  # scope of an opt-out that covers every campaign

    def __init__(self) -> None:
        self._internal: dict[str, float] = {}
        self._campaigns: dict[str, dict[str, float]] = {}
        # number -> scope (campaign, or None for every campaign) -> expiry
        self._optouts: dict[str, dict[str | None, float]] = {}
        self._registries: dict[str, Registry] = {}
        # Hashes of erased numbers (`dialer forget`): they block every campaign, for good.
        self.suppressed = SuppressionList()

    # -- internal list -------------------------------------------------------------------------
    def add_internal(self, e164: str, *, expires_at: float | None = None) -> None:
        """List a number on the internal DNC list (until `expires_at`, or for good)."""
        _check(e164)
        self._internal[e164] = _expiry(expires_at)

    def remove_internal(self, e164: str) -> bool:
        """Take a number off the internal list; True if it was there."""
        return self._internal.pop(e164, None) is not None

    def load_internal(self, entries: Iterable[tuple[str, float | None]]) -> int:
        """Replace the internal list with (number, expires_at) pairs from the store; returns the count."""
        fresh: dict[str, float] = {}
        for e164, expires_at in entries:
            _check(e164)
            fresh[e164] = _expiry(expires_at)
        self._internal = fresh  # swapped whole, so a lookup never sees half a list
        return len(fresh)

    # -- campaign lists ------------------------------------------------------------------------
    def add_campaign(self, campaign: str, e164: str, *, expires_at: float | None = None) -> None:
        """List a number on one campaign's DNC list."""
        _check(e164)
        self._campaigns.setdefault(campaign, {})[e164] = _expiry(expires_at)

    def remove_campaign(self, campaign: str, e164: str) -> bool:
        """Take a number off a campaign's list; True if it was there."""
        return self._campaigns.get(campaign, {}).pop(e164, None) is not None

    def load_campaign(self, campaign: str, entries: Iterable[tuple[str, float | None]]) -> int:
        """Replace one campaign's list; returns the count."""
        fresh: dict[str, float] = {}
        for e164, expires_at in entries:
            _check(e164)
            fresh[e164] = _expiry(expires_at)
        self._campaigns[campaign] = fresh
        return len(fresh)

    # -- opt-outs ------------------------------------------------------------------------------
    def add_optout(self, e164: str, *, campaign: str | None = None, expires_at: float | None = None) -> None:
        """Record an opt-out (for every campaign unless `campaign` is given); effective at once."""
        _check(e164)
        self._optouts.setdefault(e164, {})[campaign] = _expiry(expires_at)

    def remove_optout(self, e164: str, *, campaign: str | None = None) -> bool:
        """Withdraw an opt-out of that scope; True if there was one."""
        scopes = self._optouts.get(e164)
        if not scopes or campaign not in scopes:
            return False
        del scopes[campaign]
        if not scopes:
            del self._optouts[e164]
        return True

    # -- registries ----------------------------------------------------------------------------
    def set_registry(self, registry: Registry) -> Registry | None:
        """Serve `registry` under its name from now on; returns the one it replaces."""
        old = self._registries.get(registry.name)
        self._registries[registry.name] = registry
        return old

    def load_registry(self, path: Path | str, *, verify: bool = True) -> Registry:
        """Map a built registry file and swap it in; on any error the current one keeps serving."""
        registry = Registry.load(path, verify=verify)
        self.set_registry(registry)
        return registry

    def remove_registry(self, name: str) -> Registry | None:
        """Stop serving a registry; returns it."""
        return self._registries.pop(name, None)

    @property
    def registries(self) -> tuple[Registry, ...]:
        """The registries being served."""
        return tuple(self._registries.values())

    # -- lookups -------------------------------------------------------------------------------
    def erased_hit(self, e164: str) -> DncHit | None:
        """A hit if the number was erased on request (its hash is on the suppression list)."""
        if self.suppressed.contains(e164):
            return DncHit(DncList.ERASED, "suppression list")
        return None

    def optout_hit(self, e164: str, campaign: str | None, now_s: float) -> DncHit | None:
        """The opt-out blocking this number for this campaign, if any."""
        scopes = self._optouts.get(e164)
        if not scopes:
            return None
        for scope in (None, campaign) if campaign is not None else (None,):
            expires = scopes.get(scope)
            if expires is not None and _live(expires, now_s):
                return DncHit(DncList.OPTOUT, "all campaigns" if scope is None else scope, _public(expires))
        return None

    def internal_hit(self, e164: str, now_s: float) -> DncHit | None:
        """The internal-list entry blocking this number, if any."""
        expires = self._internal.get(e164)
        if expires is None or not _live(expires, now_s):
            return None
        return DncHit(DncList.INTERNAL, "internal", _public(expires))

    def campaign_hit(self, e164: str, campaign: str | None, now_s: float) -> DncHit | None:
        """The campaign-list entry blocking this number, if any."""
        if campaign is None:
            return None
        expires = self._campaigns.get(campaign, {}).get(e164)
        if expires is None or not _live(expires, now_s):
            return None
        return DncHit(DncList.CAMPAIGN, campaign, _public(expires))

    def registry_hit(self, e164: str) -> DncHit | None:
        """The first national registry listing this number, if any (registries do not expire entries)."""
        key = int(e164[1:])
        for registry in self._registries.values():
            if registry.contains_key(key):
                return DncHit(DncList.REGISTRY, registry.name)
        return None

    def lookup(self, e164: str, campaign: str | None, now: datetime) -> DncHit | None:
        """The first list that blocks the number for `campaign` at `now`, in the order the gate asks."""
        now_s = now.timestamp()
        return (
            self.erased_hit(e164)
            or self.optout_hit(e164, campaign, now_s)
            or self.internal_hit(e164, now_s)
            or self.campaign_hit(e164, campaign, now_s)
            or self.registry_hit(e164)
        )

    def lookup_all(self, e164: str, campaign: str | None, now: datetime) -> tuple[DncHit, ...]:
        """Every list blocking the number (for `dialer check`)."""
        now_s = now.timestamp()
        hits = [
            self.erased_hit(e164),
            self.optout_hit(e164, campaign, now_s),
            self.internal_hit(e164, now_s),
            self.campaign_hit(e164, campaign, now_s),
        ]
        key = int(e164[1:])
        hits += [DncHit(DncList.REGISTRY, r.name) for r in self._registries.values() if r.contains_key(key)]
        return tuple(h for h in hits if h is not None)

    def purge_expired(self, now: datetime) -> int:
        """Drop expired entries from every list; returns how many went."""
        now_s = now.timestamp()
        dropped = 0
        for table in (self._internal, *self._campaigns.values()):
            stale = [n for n, expires in table.items() if not _live(expires, now_s)]
            for number in stale:
                del table[number]
            dropped += len(stale)
        for number in list(self._optouts):
            scopes = self._optouts[number]
            stale_scopes = [s for s, expires in scopes.items() if not _live(expires, now_s)]
            for scope in stale_scopes:
                del scopes[scope]
            dropped += len(stale_scopes)
            if not scopes:
                del self._optouts[number]
        return dropped

    def __len__(self) -> int:
        """Entries held in memory (registries excluded)."""
        return (
            len(self._internal)
            + sum(map(len, self._campaigns.values()))
            + sum(map(len, self._optouts.values()))
        )
