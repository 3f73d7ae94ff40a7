"""The gate as a running daemon uses it: a DNC index loaded from the store and the registry files and
kept current, opt-outs captured during calls, and alerts about registries.

What keeps it current, and how fast:
- DNC entries (internal, campaign lists, opt-outs) changed by `dialer dnc` or another node: `sync(tx)`
  runs inside the engine's claim transaction, so any entry committed before a lead is claimed is in
  the index before that lead meets the gate.
- An opt-out reported during a call: in the index at once (before the next origination can be
  decided, since both happen on the event loop), and written to the store right after.
- Registry files swapped by `dialer dnc import`: checked every `dnc.refresh_interval_s`; a changed
  file is mapped and CRC-checked off the event loop and swapped in whole, so the old registry
  serves until the new one is complete. A registry on record that cannot be loaded blocks the
  numbers it covers (its regions join `required_registry_regions`), rather than letting them through.

`dialer check` and `dialer scrub` use `LiveCompliance.load` too, so they judge with the same facts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import structlog
from phonenumbers.phonenumberutil import region_codes_for_country_code

from dialer.clock import Clock, to_datetime
from dialer.compliance.dnc_index import DncIndex
from dialer.compliance.factory import build_gate
from dialer.compliance.gate import Gate
from dialer.compliance.opening import utc_iso
from dialer.compliance.policy import DAY_S, CompliancePolicy, registry_stale_after_s, tighten
from dialer.compliance.registry import Registry, RegistryError
from dialer.config.models import Config
from dialer.numbers import is_e164, mask
from dialer.store import Database, Tx
from dialer.store import calls as calls_store
from dialer.store import compliance as store
from dialer.tasks import PartTasks, background

log = structlog.get_logger("dialer.compliance")

PURGE_INTERVAL_S = 3600.0  # expired DNC entries are dropped from memory this often (they stop blocking at once)


class _Call(Protocol):
    """What an opt-out needs to know about the call it happened in."""

    call_id: str
    campaign_id: str
    number: str


class _EngineLike(Protocol):
    gate: Gate
    optout_hooks: list[Callable[[Any], None]]
    gate_sync: list[Callable[[Tx], Any]]

    def alert(self, kind: str, message: str, **data: Any) -> Any:
        """Raise an alert."""
        ...


@dataclass(frozen=True, slots=True)
class _FileId:
    """Identifies one version of a registry file (`os.replace` gives the new one a new inode)."""

    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> _FileId | None:
        """The identity of the file at `path` now, or None if there is none."""
        try:
            st = path.stat()
        except OSError:
            return None
        return cls(st.st_ino, st.st_size, st.st_mtime_ns)


class LiveCompliance:
    """Owns the DNC index and the gate built over it; see the module docstring."""

    def __init__(self, config: Config, db: Database, clock: Clock) -> None:
        self.config = config
        self.db = db
        self.clock = clock
        self.index = DncIndex()
        self.revision = 0
        self.records: dict[str, store.RegistryRecord] = {}
        self._files: dict[str, _FileId] = {}
        self._unreadable: dict[str, _FileId | None] = {}
        self._age_state: dict[str, str] = {}
        self._early_alerts: list[tuple[str, str, dict[str, Any]]] = []
        self._floor: CompliancePolicy | None = None
        self._policies: dict[str | None, CompliancePolicy] = {}
        self._engine: _EngineLike | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        self._last_purge = clock.monotonic()
        self.gate = self._build_gate()

    # -- loading ----------------------------------------------------------------------------------

    @classmethod
    async def load(cls, config: Config, db: Database, clock: Clock) -> LiveCompliance:
        """Load every DNC list from the store and every registry on record from its file."""
        live = cls(config, db, clock)
        key = await db.hash_key()
        async with db.read() as tx:
            revision, states = await store.active_dnc(tx, clock.now())
            erased = await store.suppressed_hashes(tx)
        live._apply(states)
        live.index.suppressed.load(key, erased)
        live.revision = revision
        await live._recover_optouts()
        await live.refresh_registries()
        log.info("dnc_loaded", entries=len(live.index), registries=len(live.index.registries),
                 suppressed=len(erased), revision=revision)
        return live

    def _apply(self, states: list[store.DncState]) -> None:
        index = self.index
        for state in states:
            if state.kind is store.DncKind.INTERNAL:
                if state.active:
                    index.add_internal(state.number, expires_at=state.expires_at)
                else:
                    index.remove_internal(state.number)
            elif state.kind is store.DncKind.CAMPAIGN:
                assert state.campaign is not None
                if state.active:
                    index.add_campaign(state.campaign, state.number, expires_at=state.expires_at)
                else:
                    index.remove_campaign(state.campaign, state.number)
            elif state.active:
                index.add_optout(state.number, campaign=state.campaign, expires_at=state.expires_at)
            else:
                index.remove_optout(state.number, campaign=state.campaign)

    async def sync(self, tx: Tx) -> None:
        """Apply DNC entries changed since the last look (called inside the claim transaction)."""
        revision, states = await store.dnc_changes(tx, self.revision)
        if states:
            self._apply(states)
            log.info("dnc_synced", changed=len(states), revision=revision)
        if revision != self.revision:
            erased = await store.suppressed_hashes(tx, self.revision)
            if erased:
                self.index.suppressed.add(erased)
                log.info("suppression_synced", added=len(erased), revision=revision)
        self.revision = revision

    # -- registries -------------------------------------------------------------------------------

    def floor(self) -> CompliancePolicy:
        """The global policy, plus: every region a registry on record covers requires a loaded registry."""
        if self._floor is None:
            self._floor = self._compute_floor()
        return self._floor

    def _compute_floor(self) -> CompliancePolicy:
        policy = self.config.compliance
        covered: set[str] = set()
        for record in self.records.values():
            covered |= set(record.regions or region_codes_for_country_code(record.country_code))
        covered.discard("001")
        required = tuple(sorted(set(policy.required_registry_regions) | covered))
        if required == policy.required_registry_regions:
            return policy
        return policy.model_copy(update={"required_registry_regions": required})

    def policy_for(self, campaign: str | None) -> CompliancePolicy:
        """The policy the gate applies to `campaign`: its own, tightened by the floor (saves the gate a copy
        per request when many numbers are judged at once)."""
        policy = self._policies.get(campaign)
        if policy is None:
            policy = self._policies[campaign] = tighten(self.floor(), self.config.compliance_for(campaign))
        return policy

    def _build_gate(self) -> Gate:
        return build_gate(self.floor(), self.index, catalog=self.config.preset_catalog())

    def _set_gate(self) -> None:
        self._floor = None
        self._policies.clear()
        self.gate = self._build_gate()
        if self._engine is not None:
            self._engine.gate = self.gate

    async def refresh_registries(self) -> list[str]:
        """Load registries whose file changed, drop ones no longer on record; returns names swapped in."""
        async with self.db.read() as tx:
            records = {r.name: r for r in await store.registries(tx)}
        floor_changed = set(records) != set(self.records) or any(
            records[n].regions != self.records[n].regions for n in records if n in self.records)
        self.records = records
        swapped: list[str] = []
        for name in [n for n in self._files if n not in records]:
            old = self.index.remove_registry(name)
            self._files.pop(name, None)
            if old is not None:
                old.close()
            log.info("registry_dropped", registry=name)
        for name, record in records.items():
            path = Path(record.path)
            file_id = _FileId.of(path)
            if file_id is not None and file_id == self._files.get(name):
                continue  # loaded and unchanged
            if name in self._unreadable and self._unreadable[name] == file_id:
                continue  # this version was reported already
            serving = "the loaded copy keeps serving" if name in self._files else "its numbers are blocked"
            if file_id is None:
                self._unreadable[name] = None
                self._raise("registry_unreadable", f"registry {name!r}: {path} is missing; {serving}",
                            registry=name)
                continue
            try:
                registry = await asyncio.to_thread(Registry.load, path)
            except RegistryError as exc:
                self._unreadable[name] = file_id
                self._raise("registry_unreadable", f"registry {name!r} cannot be loaded ({exc}); {serving}",
                            registry=name)
                continue
            self._unreadable.pop(name, None)
            old = self.index.set_registry(registry)  # atomic: lookups see the old or the new, whole
            self._files[name] = file_id
            if old is not None and old is not registry:
                old.close()
            swapped.append(name)
            log.info("registry_loaded", registry=name, count=registry.count, data_as_of=utc_iso(
                registry.data_as_of.timestamp()), replaced=old is not None)
        if floor_changed:
            self._set_gate()
        return swapped

    def check_ages(self) -> None:
        """Alert (once per change of state) when a registry's data is stale or past its grace period."""
        stale_s, block_s = registry_stale_after_s(self.config.compliance)
        now = self.clock.now()
        for registry in self.index.registries:
            age = now - registry.data_as_of.timestamp()
            state = "blocking" if age > block_s else "stale" if age > stale_s else "fresh"
            if state == self._age_state.get(registry.name, "fresh"):
                self._age_state[registry.name] = state
                continue
            self._age_state[registry.name] = state
            if state == "fresh":
                continue
            what = ("its numbers are blocked until a fresh file is imported" if state == "blocking"
                    else f"calls continue for {self.config.compliance.registry_grace_days} grace day(s)")
            self._raise("registry_stale",
                        f"registry {registry.name!r} data is {age / DAY_S:.0f} days old (as of "
                        f"{utc_iso(registry.data_as_of.timestamp())}, max "
                        f"{self.config.compliance.registry_max_age_days} days): {what}",
                        registry=registry.name, state=state)

    def _raise(self, kind: str, message: str, **data: Any) -> None:
        if self._engine is not None:
            self._engine.alert(kind, message, **data)
        else:
            # Found while loading, before the engine exists: raised for real once it is attached.
            self._early_alerts.append((kind, message, data))
            log.warning("alert", kind=kind, message=message, **data)

    # -- opt-outs -----------------------------------------------------------------------------------

    async def _recover_optouts(self) -> None:
        """Opt-outs recorded as a call's outcome but not on the DNC list (a crash in between)."""
        async with self.db.read() as tx:
            rows = await calls_store.opted_out_calls(tx)
        now = self.clock.now()
        missing = []
        for row in rows:
            if not is_e164(row["number"]):
                continue  # erased on request: its hash is on the suppression list instead
            scope = None if self.config.dnc.optout_scope == "all" else row["campaign_id"]
            if self.index.optout_hit(row["number"], scope, now) is None:
                self.index.add_optout(row["number"], campaign=scope)
                missing.append(store.NewDncEntry(row["number"], store.DncKind.OPTOUT, scope, f"call:{row['call_id']}"))
        if missing:
            stamp = store.ChangeStamp("dialer", now, await self.db.hash_key())
            async with self.db.write() as tx:
                await store.add_dnc(tx, missing, stamp)
            log.warning("optouts_recovered", count=len(missing))

    def on_optout(self, call: _Call) -> None:
        """An opt-out during a call: in the index now, in the store right after."""
        scope = None if self.config.dnc.optout_scope == "all" else call.campaign_id
        self.index.add_optout(call.number, campaign=scope)
        task = background(self._store_optout(call.number, scope, call.call_id), f"optout-{call.call_id}")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _store_optout(self, number: str, scope: str | None, call_id: str) -> None:
        entry = store.NewDncEntry(number, store.DncKind.OPTOUT, scope, f"call:{call_id}")
        try:
            stamp = store.ChangeStamp("dialer", self.clock.now(), await self.db.hash_key())
            async with self.db.write() as tx:
                await store.add_dnc(tx, [entry], stamp)
        except Exception as exc:
            # It still blocks in memory; say loudly that it is not on disk.
            self._raise("storage_error", f"opt-out of {mask(number)} not stored ({exc}); it blocks until "
                        "the daemon stops: add it with `dialer dnc add --optout`", call_id=call_id)
            return
        log.info("optout_stored", number=mask(number), call_id=call_id, scope=scope or "all campaigns")

    # -- daemon lifetime ----------------------------------------------------------------------------

    def attach(self, engine: _EngineLike) -> None:
        """Serve `engine`: its gate, its opt-outs, the DNC sync in its claim transaction, its alerts."""
        self._engine = engine
        engine.gate = self.gate
        engine.optout_hooks.append(self.on_optout)
        engine.gate_sync.append(self.sync)

    async def start(self, parts: PartTasks) -> None:
        """Raise what loading found, check registry ages, and begin the periodic registry check."""
        if self._engine is not None:
            for kind, message, data in self._early_alerts:
                self._engine.alert(kind, message, **data)
        self._early_alerts.clear()
        self.check_ages()
        self._loop = parts.spawn(self._run(), "compliance-refresh")

    def reload(self, config: Config) -> None:
        """A reloaded config: new global policy (the gate's floor), registry refresh settings."""
        self.config = config
        self._set_gate()

    async def stop(self) -> None:
        """Stop the periodic check; wait for opt-outs still being written."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # a failure was logged (tasks.background)
                await self._loop
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.config.dnc.refresh_interval_s)
            try:
                await self.refresh_registries()
                self.check_ages()
                if self.clock.monotonic() - self._last_purge >= PURGE_INTERVAL_S:
                    self._last_purge = self.clock.monotonic()
                    dropped = self.index.purge_expired(to_datetime(self.clock.now()))
                    if dropped:
                        log.info("dnc_purged", expired=dropped)
            except Exception:  # a failed check must not stop the next one
                log.exception("compliance_refresh_failed")
