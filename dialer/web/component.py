"""The daemon's `web` component: serves the wallboard and keeps its figures current.

aiohttp's AppRunner and TCPSite run the server on the daemon's own event loop (no thread, no ASGI
server). The figures are refreshed by one task owned by the daemon's PartTasks: the engine's event
and alert hooks only mark what changed and wake it (a hook never awaits), and it pushes at most
one update per PUSH_MIN_S, reading the store in tiers (see `dialer.web.snapshot`). With no page
open it reads nothing: a snapshot request then refreshes on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from dialer.alerts import Alert
from dialer.events import CallEvent
from dialer.tasks import PartTasks
from dialer.web.config import WebConfig
from dialer.web.server import build_app, load_assets
from dialer.web.snapshot import Pbx, StoreFigures, compose, read_fast, read_reports
from dialer.web.stream import Fanout
from dialer.web.window import WindowState, window_state, zone_groups

if TYPE_CHECKING:
    from dialer.clock import Clock
    from dialer.config import Config
    from dialer.daemon import DaemonContext
    from dialer.engine import Engine
    from dialer.store import Database

log = structlog.get_logger("dialer.web")

PUSH_MIN_S = 0.2  # updates are coalesced: at most five a second
FAST_S = 1.0  # campaign states, outbox, originations
REPORTS_S = 5.0  # today's and the last hour's reports when no call changed meanwhile
LONG_S = 10.0  # the 24 h and 30 day reports
WINDOWS_S = 30.0  # calling windows (they change by the minute)
HEARTBEAT_S = 2.0  # the page calls itself stale after 3 heartbeats without a word
ALERTS_KEPT = 20


class WebBoard:
    """The wallboard: engine hooks, a refresh task, and the HTTP server."""

    name = "web"

    def __init__(self, config: Config, engine: Engine, db: Database, clock: Clock) -> None:
        self.config = config
        self.web: WebConfig = config.web
        self.engine = engine
        self.db = db
        self.clock = clock
        self.fanout = Fanout(self.web.client_queue, self.web.max_clients)
        self.port: int | None = None
        self.figures = StoreFigures()
        self.windows: dict[str, dict[str, object]] = {}
        self.alerts: deque[dict[str, Any]] = deque(maxlen=ALERTS_KEPT)
        self._runner: web.AppRunner | None = None
        self._wake = asyncio.Event()
        self._calls_changed = True
        self._changed = True
        self._connected: bool | None = None
        self._connected_since: float | None = None
        self._last_reconnect: float | None = None
        self._at = {"fast": -1e18, "reports": -1e18, "long": -1e18, "windows": -1e18, "push": -1e18,
                    "beat": -1e18}
        self._refresh_lock = asyncio.Lock()

    # -- lifetime ----------------------------------------------------------------------------------

    async def start(self, parts: PartTasks) -> None:
        """Hook into the engine, listen, and start the refresh task (a port in use raises an alert)."""
        token = self.web.token.get_secret_value() if self.web.token is not None else None
        if token is None and not self.web.loopback:
            # The loader refuses this config; a caller that built one by hand gets the same answer.
            raise ValueError(f"web.address {self.web.address} needs a token (web.token_file, web-token credential)")
        self.engine.event_hooks.append(self.on_events)
        self.engine.alert_hooks.append(self.on_alert)
        # handler_cancellation: a page that closes ends its stream handler at once (else only at the
        # next write), so its slot under max_clients is free for the page that reconnects.
        runner = web.AppRunner(build_app(self, token, load_assets()), access_log=None, shutdown_timeout=2.0,
                               handler_cancellation=True)
        await runner.setup()
        self._runner = runner
        try:
            site = web.TCPSite(runner, self.web.address, self.web.port)
            await site.start()
        except OSError as exc:
            self.engine.alert("web_unavailable", f"wallboard {self.web.address}:{self.web.port}: {exc.strerror or exc}")
        else:
            addresses = runner.addresses  # (host, port, ...) of each bound socket: port 0 asks for a free one
            self.port = int(addresses[0][1]) if addresses else self.web.port
            log.info("web_listening", address=self.web.address, port=self.port, token=token is not None,
                     show_numbers=self.web.show_numbers)
        parts.spawn(self._run(), "web-refresh")

    async def stop(self) -> None:
        """End every page's stream (they show stale), stop serving, unhook."""
        self.fanout.close_all()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        for hooks, hook in ((self.engine.event_hooks, self.on_events), (self.engine.alert_hooks, self.on_alert)):
            with contextlib.suppress(ValueError):
                hooks.remove(hook)  # type: ignore[arg-type]

    def reload(self, config: Config) -> None:
        """A reload: campaigns and limits are read from the engine's config; `[web]` needs a restart."""
        self.config = config
        self._at["windows"] = -1e18

    # -- hooks (event loop; never await) -------------------------------------------------------------

    def on_events(self, events: Sequence[CallEvent]) -> None:
        """Calls changed: live counts now, the store's figures at the next refresh."""
        self._calls_changed = True
        self._changed = True
        self._wake.set()

    def on_alert(self, alert: Alert) -> None:
        """Keep the alert for the page and push it at once."""
        self.alerts.appendleft({"kind": alert.kind, "message": alert.message, "at": alert.at})
        if alert.kind == "ami_down" and self._connected:
            # The session may be back before the next look at `ami.connected`: the loss is not missed.
            self._connected = False
        self._changed = True
        self._wake.set()

    # -- figures -------------------------------------------------------------------------------------

    def _watch_pbx(self) -> None:
        ami = self.engine.ami
        connected = ami is not None and ami.connected
        if connected != self._connected:
            now = self.clock.now()
            if connected:
                if self._connected is False and self._connected_since is not None:
                    self._last_reconnect = now
                self._connected_since = now
            self._connected = connected
            self._changed = True

    async def refresh(self, *, force: bool = False) -> None:
        """Read what is due from the store (everything with `force`)."""
        async with self._refresh_lock:
            mono = time.monotonic()
            now = self.clock.now()
            due = {"fast": FAST_S, "reports": REPORTS_S, "long": LONG_S, "windows": WINDOWS_S}
            late = {tier: force or mono - self._at[tier] >= every for tier, every in due.items()}
            if self._calls_changed and mono - self._at["reports"] >= FAST_S:
                late["reports"] = True
            if late["reports"] or late["long"]:
                self._calls_changed = False
                await read_reports(self.db, self.figures, now, long=late["long"])
                self._at["reports"] = mono
                if late["long"]:
                    self._at["long"] = mono
                self._changed = True
            if late["fast"]:
                await read_fast(self.db, self.figures, now)
                self._at["fast"] = mono
                self._changed = True
            if late["windows"]:
                await self._read_windows(now)
                self._at["windows"] = mono

    async def _read_windows(self, now: float) -> None:
        states: dict[str, dict[str, object]] = {}
        for name in self.engine.config.campaigns:
            async with self.db.read() as tx:
                groups = await zone_groups(tx, name)
            state: WindowState = window_state(groups, self.engine.config.compliance_for(name), now)
            states[name] = state.as_json()
        self.windows = states

    def compose(self) -> dict[str, Any]:
        """The document from the figures in hand and the engine's live calls."""
        self._watch_pbx()
        ami = self.config.ami
        pbx = Pbx(bool(self._connected), self._connected_since, self._last_reconnect, f"{ami.host}:{ami.port}")
        return compose(self.figures, self.engine.tracker.calls(), now=self.clock.now(), node=self.config.node.name,
                       pbx=pbx, draining=self.engine.draining, alerts=list(self.alerts), windows=self.windows,
                       abandon_limit=self.engine.config.compliance.max_abandon_rate,
                       show_numbers=self.web.show_numbers, configured=self.engine.config.campaigns)

    async def snapshot(self) -> dict[str, Any]:
        """The figures now: refreshed first if a tier is due (a request with no page open)."""
        await self.refresh()
        return self.compose()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=PUSH_MIN_S)
            self._wake.clear()
            if not len(self.fanout):
                continue  # nobody watches: read nothing
            self._watch_pbx()
            try:
                await self.refresh()
            except Exception as exc:  # a locked or failing store must not end the wallboard
                log.warning("web_refresh_failed", error=str(exc))
            mono = time.monotonic()
            if self._changed and mono - self._at["push"] >= PUSH_MIN_S:
                self._changed = False
                self._at["push"] = self._at["beat"] = mono
                self.fanout.publish("snapshot", self.compose())
            elif mono - self._at["beat"] >= HEARTBEAT_S:
                self._at["beat"] = mono
                self.fanout.heartbeat()


def web_component(context: DaemonContext) -> WebBoard | None:
    """The daemon's `web` component, or None when `[web] enabled` is false."""
    if not context.config.web.enabled:
        return None
    return WebBoard(context.config, context.engine, context.db, context.clock)
