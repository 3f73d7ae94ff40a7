"""The daemon: owns the database, the AMI client and the engine, in that order, and handles signals.

SIGTERM/SIGINT: stop originating, let live calls finish (up to the drain timeout), record
everything, exit 0. SIGHUP: re-read the config; an invalid one is logged and the old one kept.
Under systemd (Type=notify) it says READY=1 once the database is open and AMI is logged in, keeps
STATUS= current, pings the watchdog from the event loop, and says STOPPING=1 when it drains.

Start: the lock, the database (refused if missing, empty, foreign or damaged: `PRAGMA quick_check`),
the outcome journal a previous run left (applied exactly once, before the attempts still open are
restored and reconciled), the journal's space reserved for this run, then AMI. Every way it can end
is one log line that says what to do and one exit status (dialer.ops.exit_codes); no traceback.
Stop: if the database cannot take the last outcomes (disk full), they go to the journal. While
running, too: each flush that fails on the database rewrites the journal with what is held, and the
first one that works again clears it, so a SIGKILL during a storage outage loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import structlog

from dialer.ami.client import AmiClient, AmiSettings
from dialer.ami.errors import AmiLoginError
from dialer.clock import Clock, SystemClock
from dialer.compliance.live import LiveCompliance
from dialer.compliance.lockout import lockout_component
from dialer.config import Config, ConfigError, load_config
from dialer.crm.component import crm_component
from dialer.engine import Engine
from dialer.logs import install_loop_handler, mask_text, set_level
from dialer.mqtt.component import mqtt_component
from dialer.ops.exit_codes import ExitCode
from dialer.ops.lock import DaemonLock, LockHeld
from dialer.ops.metrics import metrics_component
from dialer.ops.perms import database_files, tighten
from dialer.ops.service import Snapshot, SystemdService
from dialer.ops.status_file import StatusFile
from dialer.recordings.component import recordings_component
from dialer.sms.component import sms_component
from dialer.store import Database, DatabaseMissing, DatabaseUnusable, StoreError, store_error
from dialer.store import leads as lead_store
from dialer.store.journal import JournalError, OutcomeJournal, apply_journal, reserve_bytes
from dialer.surveys.component import survey_component
from dialer.tasks import PartFailed, PartTasks
from dialer.web.component import web_component

log = structlog.get_logger("dialer.daemon")

# Sections a reload cannot change under a running daemon: they keep their running values.
RESTART_ONLY = ("node", "database", "ami", "metrics", "mqtt", "web")
_LEVEL_ORDER = ("debug", "info", "warning", "error")


def ami_settings(config: Config) -> AmiSettings:
    """AmiSettings from the config (the secret must have been resolved)."""
    ami = config.ami
    if ami.secret is None:
        raise ConfigError("<config>", ["ami: no secret resolved"])
    return AmiSettings(
        host=ami.host, port=ami.port, username=ami.username, secret=ami.secret.get_secret_value(),
        events=ami.events, connect_timeout_s=ami.connect_timeout_s, login_timeout_s=ami.login_timeout_s,
        action_timeout_s=ami.action_timeout_s, ping_interval_s=ami.ping_interval_s,
        ping_timeout_s=ami.ping_timeout_s, reconnect_initial_s=ami.reconnect_initial_s,
        reconnect_max_s=ami.reconnect_max_s, max_list_items=ami.max_list_items,
    )


async def build_gate(config: Config, db: Database, clock: Clock) -> LiveCompliance:
    """The compliance gate for this config, over the DNC lists in `db` and the registry files on record."""
    return await LiveCompliance.load(config, db, clock)


class Component(Protocol):
    """A part of the daemon with a lifetime (MQTT publisher, recordings archiver, metrics, ...)."""

    name: str

    async def start(self, parts: PartTasks) -> None:
        """Start background work, its long-running tasks owned by `parts` (a task of theirs that
        fails stops the daemon); called after the engine is built, before dialing starts."""
        ...

    async def stop(self) -> None:
        """Stop and flush; called after dialing has drained, before the database closes."""
        ...


@dataclass(frozen=True, slots=True)
class DaemonContext:
    """What a component factory may use."""

    config: Config
    db: Database
    engine: Engine
    clock: Clock


ComponentFactory = Callable[[DaemonContext], "Component | None"]


class StartError(Exception):
    """A failure that ends the daemon: `event` and the message are logged, `code` is the exit status."""

    def __init__(self, code: ExitCode, event: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.event = event


def _store_failure(exc: StoreError) -> StartError:
    if isinstance(exc, DatabaseMissing):
        return StartError(ExitCode.NO_DATABASE, "database_missing", str(exc))
    if isinstance(exc, DatabaseUnusable):
        return StartError(ExitCode.DATABASE_UNUSABLE, "database_unusable", str(exc))
    return StartError(ExitCode.STORAGE, "storage_error", str(exc))


def component_factories() -> list[ComponentFactory]:
    """Every optional part of the daemon; a factory returns None when its feature is off."""
    # MQTT starts before (so stops after) the parts whose alerts it publishes.
    # The wallboard too, so it shows the alerts the others raise while they start.
    return [metrics_component, web_component, mqtt_component, recordings_component, crm_component, sms_component,
            lockout_component, survey_component]


class Daemon:
    """One running dialer. `await Daemon(config).run()` returns the process exit code."""

    def __init__(
        self,
        config: Config,
        *,
        config_path: Path | None = None,
        clock: Clock | None = None,
        install_signals: bool = True,
        on_engine: Callable[[Engine], None] | None = None,
        service: SystemdService | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.clock = clock or SystemClock()
        self.install_signals = install_signals
        self.engine: Engine | None = None
        self.ami: AmiClient | None = None
        self.compliance: LiveCompliance | None = None
        self._on_engine = on_engine
        self._stop = asyncio.Event()
        self.components: list[Component] = []
        self.parts: PartTasks | None = None  # owner of the parts' long-running tasks while running
        self.service = service or SystemdService.from_env()
        self._ready = False
        self.journal = OutcomeJournal(config.database.path)
        self._journaled: tuple[int, int] | None = None  # (records, finals) the journal holds from this run

    def stop(self) -> None:
        """Begin a graceful stop (what SIGTERM does)."""
        self._stop.set()
        if self.engine is not None:
            self.engine.drain()
        self.service.stopping()

    def reload(self) -> bool:
        """Re-read the config file (what SIGHUP does); keep the old config if the new one is bad.

        Pacing, windows and other compliance settings, campaigns, retry rules and the log level
        change at once; live calls are not touched. RESTART_ONLY sections keep their running values.
        """
        self.service.reloading()
        ok, outcome = self._reload()
        self.service.reloaded(outcome)
        return ok

    def _reload(self) -> tuple[bool, str]:
        if self.config_path is None:
            log.warning("reload_ignored", reason="no config file")
            return False, "reload ignored: no config file"
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error("reload_rejected", problems=exc.problems, note="keeping the running config")
            return False, f"last reload rejected ({len(exc.problems)} problems, see the journal)"
        old = self.config
        kept = {key: getattr(old, key) for key in RESTART_ONLY if getattr(new, key) != getattr(old, key)}
        if new.logging.format != self.config.logging.format:
            kept["logging"] = new.logging.model_copy(update={"format": self.config.logging.format})
        if kept:
            log.warning("reload_partial", needs_restart=sorted(kept), note="these keep their running values")
            new = new.model_copy(update=kept)
        self.config = new
        if self.compliance is not None:
            self.compliance.reload(new)
        if self.engine is not None:
            self.engine.reload(new)
        for component in self.components:
            reload = getattr(component, "reload", None)
            if reload is not None:
                try:
                    reload(new)
                except Exception:
                    log.exception("component_reload_failed", component=component.name)
        # Logged at the more verbose of the two levels, so a reload to `warning` still shows.
        quieter = _LEVEL_ORDER.index(new.logging.level) > _LEVEL_ORDER.index(old.logging.level)
        if not quieter:
            set_level(new.logging.level)
        log.info("reloaded", campaigns=sorted(new.campaigns), level=new.logging.level)
        set_level(new.logging.level)
        return True, "last reload ok"

    def _snapshot(self) -> Snapshot:
        engine = self.engine
        phase = "draining" if engine is not None and engine.draining else "dialing" if self._ready else "starting"
        return Snapshot(
            phase=phase,
            live_calls=len(engine.tracker) if engine is not None else 0,
            active_campaigns=engine.active_campaigns() if engine is not None else (),
            ami_connected=self.ami is not None and self.ami.connected,
            ami_address=f"{self.config.ami.host}:{self.config.ami.port}",
            drain_timeout_s=self.config.dialing.drain_timeout_s,
        )

    async def run(self) -> int:
        """Run until stopped; returns the exit status (dialer.ops.exit_codes.ExitCode): 0 on a clean stop."""
        try:
            return await self._locked()
        except StartError as exc:
            return self._failed(exc)
        except StoreError as exc:
            return self._failed(_store_failure(exc))
        except sqlite3.Error as exc:
            return self._failed(_store_failure(store_error(self.config.database.path, exc)))
        except Exception as exc:
            # A bug. One line (masked, no frames: their locals hold numbers), and the exit status says so.
            message = f"{exc.__class__.__name__}: {mask_text(str(exc))} (a bug: please report it)"
            return self._failed(StartError(ExitCode.INTERNAL, "internal_error", message))

    def _failed(self, exc: StartError) -> int:
        log.error(exc.event, error=str(exc), exit_code=int(exc.code))
        return int(exc.code)

    async def _locked(self) -> int:
        path = self.config.database.path
        lock = DaemonLock(path)
        try:
            lock.acquire()
        except LockHeld as exc:
            log.error("already_running", database=str(path), pid=exc.pid, exit_code=int(ExitCode.ALREADY_RUNNING),
                      note="another dialer uses this database; stop it first")
            return int(ExitCode.ALREADY_RUNNING)
        except OSError as exc:
            raise StartError(ExitCode.STORAGE, "storage_error",
                             f"{lock.path}: cannot create the daemon lock: {exc.strerror} (check that "
                             f"{path.parent} exists and belongs to the daemon's user)") from None
        loop = asyncio.get_running_loop()
        install_loop_handler(loop)  # asyncio's own handler would print tracebacks past the log mask
        if self.install_signals:
            loop.add_signal_handler(signal.SIGTERM, self.stop)
            loop.add_signal_handler(signal.SIGINT, self.stop)
            loop.add_signal_handler(signal.SIGHUP, self.reload)
        try:
            return await self._run()
        finally:
            await self.service.stop()
            lock.release()
            if self.install_signals:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    loop.remove_signal_handler(sig)

    async def _run(self) -> int:
        config = self.config
        async with Database.open(config.database.path, create=False, synchronous=config.database.synchronous) as db:
            for path, old, new in tighten(database_files(config.database.path)):
                log.warning("permissions_tightened", path=str(path), old=f"{old:04o}", new=f"{new:04o}")
            self.service.start(self._snapshot)
            if config.database.check_at_start:
                await db.check_integrity()
            journal = OutcomeJournal(config.database.path)
            try:
                journal.read()  # a journal that cannot be trusted stops the start before anything runs
            except JournalError as exc:
                raise StartError(ExitCode.DATABASE_UNUSABLE, "journal_unreadable", str(exc)) from None
            self.journal = journal
            compliance = await build_gate(config, db, self.clock)
            self.compliance = compliance
            engine = Engine(config, db, compliance.gate, self.clock, await db.hash_key())
            compliance.attach(engine)
            self.engine = engine
            if self._on_engine is not None:
                self._on_engine(engine)
            context = DaemonContext(config, db, engine, self.clock)
            parts = PartTasks()
            self.parts = parts
            async with contextlib.AsyncExitStack() as components:
                components.push_async_callback(parts.stop)  # last: whatever a part left running
                status = StatusFile(config.database.path, config.node.name, self._snapshot)  # for `dialer status`
                status.start(parts)
                components.push_async_callback(status.stop)
                await compliance.start(parts)
                components.push_async_callback(compliance.stop)
                for factory in component_factories():
                    component = factory(context)
                    if component is not None:
                        await component.start(parts)
                        components.push_async_callback(component.stop)
                        self.components.append(component)
                # With every tx hook in place (MQTT outbox, pending recordings), before the attempts
                # still open are restored and reconciled: the journal's outcomes are the true ones.
                await self._apply_journal(db, journal, engine)
                try:
                    journal.reserve(reserve_bytes(config.dialing.pacing.max_concurrent_calls))
                except JournalError as exc:
                    raise StartError(ExitCode.STORAGE, "storage_error", str(exc)) from None
                engine.storage_failure_hooks.append(lambda exc: self._journal_held(engine, exc, running=True))
                engine.storage_recovery_hooks.append(self._storage_recovered)
                await engine.restore()
                return await self._serve(config, engine, parts)

    async def _apply_journal(self, db: Database, journal: OutcomeJournal, engine: Engine) -> None:
        scope_all = self.config.dnc.optout_scope == "all"
        try:
            applied = await apply_journal(db, journal, engine, now=self.clock.now(),
                                          optout_scope=lambda campaign: None if scope_all else campaign)
        except JournalError as exc:
            raise StartError(ExitCode.DATABASE_UNUSABLE, "journal_unreadable", str(exc)) from None
        except (StoreError, sqlite3.Error) as exc:
            error = exc if isinstance(exc, StoreError) else store_error(db.path, exc,
                                                                        "cannot apply the outcome journal")
            raise StartError(ExitCode.STORAGE, "storage_error",
                             f"{error}; the outcome journal {journal.path} is kept for the next start") from None
        if applied is None:
            return
        if applied.already_applied:
            log.warning("journal_already_applied", path=str(journal.path), journal=applied.id,
                        note="a previous start applied it and stopped before clearing it; cleared now")
            return
        log.warning("journal_applied", path=str(journal.path), journal=applied.id, finals=applied.finals,
                    recorded=applied.recorded, optouts_added=applied.optouts_added, complete=applied.complete,
                    damaged_lines=applied.damaged_lines,
                    note="outcomes the last run could not write to the database, recorded now")

    def _journal_held(self, engine: Engine, error: sqlite3.Error, *, running: bool = False) -> None:
        """The database cannot take what the engine holds: put it in the outcome journal. `running`:
        a flush failed while the daemon runs (it retries): the journal is rewritten with what is held
        now, so a SIGKILL before the database recovers loses nothing; logged when that changes."""
        held = engine.held_outcomes()
        reason = str(store_error(engine.db.path, error, "cannot write the last outcomes"))
        if not len(held):
            if not running:
                log.error("storage_error", error=reason)
            return
        try:
            written = self.journal.write(held, node=self.config.node.name, now=self.clock.now())
        except JournalError as exc:
            log.error("outcomes_lost", error=f"{reason}; {exc}", held=len(held), finals=held.finals)
            return
        changed = self._journaled != (len(held), held.finals)
        self._journaled = (len(held), held.finals)
        if running:
            if changed:
                log.warning("outcomes_journal_updated", error=reason, path=str(self.journal.path), records=written,
                            finals=held.finals, optouts=len(held.optouts),
                            note="kept there until the database takes them again (or applied at the next start)")
            return
        log.error("outcomes_journaled", error=reason, path=str(self.journal.path), records=written,
                  finals=held.finals, optouts=len(held.optouts),
                  note="they are applied at the next start, before reconciliation; free space first")

    def _storage_recovered(self) -> None:
        """The database took everything the journal held during the outage: clear the journal."""
        if self._journaled is None:
            return
        self._journaled = None
        try:
            self.journal.reset()
        except JournalError as exc:
            # Left whole: applying it again at the next start records nothing twice (its finals are
            # in the database; apply_journal skips those).
            log.warning("journal_not_cleared", error=str(exc))
            return
        log.info("journal_cleared", path=str(self.journal.path), note="the database took the outcomes again")

    async def _serve(self, config: Config, engine: Engine, parts: PartTasks) -> int:
        def on_disconnected(reason: str) -> None:
            engine.on_ami_disconnected(reason)
            engine.alert("ami_down", f"AMI connection to {config.ami.host}:{config.ami.port} lost: {reason}")
            self.service.update()

        def on_list_capped(action: str, limit: int) -> None:
            engine.alert("ami_list_capped", f"{action} answered with more than {limit} items (ami.max_list_items): "
                         "the rest was dropped and the live calls could not be checked against it",
                         action=action, max_list_items=limit)

        client = AmiClient(
            ami_settings(config),
            on_event=engine.on_ami_event,
            on_connected=engine.on_ami_connected,
            on_disconnected=on_disconnected,
            on_list_capped=on_list_capped,
            wanted_events=engine.wanted_events(),
        )
        self.ami = client
        engine.ami = client
        log.info("starting", node=config.node.name, database=str(config.database.path),
                 ami=client.settings.address, campaigns=sorted(config.campaigns))
        try:
            await self._wait_first_login(client)
        except AmiLoginError as exc:
            log.error("ami_login_refused", error=str(exc), exit_code=int(ExitCode.AMI_LOGIN_REFUSED))
            await client.close()
            return int(ExitCode.AMI_LOGIN_REFUSED)
        if self._stop.is_set():
            engine.drain()
        self._ready = True
        self.service.ready()
        run = asyncio.create_task(engine.run(), name="engine")
        part_failed = asyncio.create_task(parts.failed.wait(), name="part-watch")
        assert client.supervisor is not None
        try:
            await asyncio.wait({run, client.supervisor, part_failed}, return_when=asyncio.FIRST_COMPLETED)
            if parts.failure is not None and not run.done():
                # A part died (a bug, or a loop that ended): stop rather than dial on without it.
                # The attempt rows make the restart systemd does safe.
                engine.drain()
                await run
                code = ExitCode.INTERNAL
            elif client.supervisor.done() and not run.done():
                # The AMI loop only ends on a refused re-login: stop dialing, keep the records.
                with contextlib.suppress(AmiLoginError):
                    client.supervisor.result()
                log.error("ami_login_refused_on_reconnect", exit_code=int(ExitCode.AMI_LOGIN_REFUSED),
                          note="stopped dialing; fix the manager.conf user or the secret")
                engine.drain()
                await run
                code = ExitCode.AMI_LOGIN_REFUSED
            else:
                await run
                code = ExitCode.OK
            if parts.failure is not None and code is not ExitCode.AMI_LOGIN_REFUSED:  # during a drain too
                self._part_failed(parts.failure)
                code = ExitCode.INTERNAL
        finally:
            parts.stopping()
            part_failed.cancel()
            if not run.done():
                run.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await run
            flushed = await self._flush_or_journal(engine)
            await client.close()
        latencies = sorted(engine.commit_latencies)
        log.info("stopped", originated=engine.stats.originated, ended=engine.stats.ended,
                 live_left=len(engine.tracker), **_latency_summary(latencies))
        return int(code if flushed else ExitCode.STORAGE)

    @staticmethod
    def _part_failed(failure: PartFailed) -> None:
        log.error("part_failed", part=failure.part, error=str(failure), exit_code=int(ExitCode.INTERNAL),
                  note="the daemon stops; systemd restarts it (a bug: report this line)",
                  exc_info=failure.error if failure.error is not None else False)

    async def _flush_or_journal(self, engine: Engine) -> bool:
        """Write the last outcomes; if the database cannot take them, journal them. True if it took them."""
        try:
            await engine.flush()
        except sqlite3.Error as exc:
            self._journal_held(engine, exc)
            return False
        return True

    async def _wait_first_login(self, client: AmiClient) -> None:
        start = asyncio.create_task(client.start())
        stop = asyncio.create_task(self._stop.wait())
        done, _ = await asyncio.wait({start, stop}, return_when=asyncio.FIRST_COMPLETED)
        if start in done:
            stop.cancel()
            start.result()
            return
        start.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await start


async def run_until_settled(
    config: Config,
    campaigns: Sequence[str],
    *,
    config_path: Path | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_engine: Callable[[Engine], None] | None = None,
    poll_s: float = 0.1,
) -> Engine:
    """Run the daemon in-process until every lead of `campaigns` is settled and no call is live.

    Used by `dialer demo` and by tests; returns the engine (its stats and tracker) after the stop.
    """
    engines: list[Engine] = []

    def keep(engine: Engine) -> None:
        engines.append(engine)
        if on_engine is not None:
            on_engine(engine)

    daemon = Daemon(config, config_path=config_path, install_signals=False, on_engine=keep)
    runner = asyncio.create_task(daemon.run())
    try:
        while not runner.done():
            await asyncio.sleep(poll_s)
            if not engines or daemon.ami is None or not daemon.ami.connected:
                continue
            engine = engines[0]
            async with engine.db.read() as tx:
                leads = await lead_store.progress(tx, campaigns)
            if on_progress is not None:
                on_progress(leads.done, leads.total)
            if not leads.open and not len(engine.tracker):
                daemon.stop()
                break
        code = await runner
    finally:
        if not runner.done():
            daemon.stop()
            with contextlib.suppress(Exception):
                await runner
    if code != 0:
        raise RuntimeError(f"the daemon exited with {code}")
    return engines[0]


def _latency_summary(latencies: Sequence[float]) -> dict[str, float | int]:
    """Median, p99 and max of sorted hangup-to-commit latencies, in milliseconds."""
    if not latencies:
        return {}
    def at(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 3)
    return {"commit_latency_n": len(latencies), "commit_latency_p50_ms": at(0.5),
            "commit_latency_p99_ms": at(0.99), "commit_latency_max_ms": round(latencies[-1] * 1000, 3)}
