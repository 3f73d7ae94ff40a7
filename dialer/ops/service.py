"""What systemd sees of the daemon: READY=1, RELOADING=1, STOPPING=1, a live STATUS= line and the
watchdog. The daemon calls the lifecycle methods; `describe` tells what the STATUS= line says now.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from dialer.ops.notify import Notifier
from dialer.ops.watchdog import Watchdog, watchdog_interval_s
from dialer.tasks import background

STATUS_INTERVAL_S = 2.0
_MAX_NAMES = 5


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The daemon's state in the terms of its STATUS= line."""

    phase: str  # starting | dialing | draining
    live_calls: int
    active_campaigns: Sequence[str]
    ami_connected: bool
    ami_address: str = ""
    drain_timeout_s: float = 0.0


def status_line(s: Snapshot) -> str:
    """One line for `systemctl status` (no numbers, no secrets)."""
    names = list(s.active_campaigns)
    shown = ", ".join(names[:_MAX_NAMES]) + (", …" if len(names) > _MAX_NAMES else "")
    campaigns = f"{len(names)} active campaign{'' if len(names) == 1 else 's'}" + (f" ({shown})" if names else "")
    calls = f"{s.live_calls} live call{'' if s.live_calls == 1 else 's'}"
    if s.phase == "starting":
        return f"starting: database open, logging in to AMI at {s.ami_address}"
    if s.phase == "draining":
        return f"draining: no new calls; {calls} left (exit within {s.drain_timeout_s:g} s)"
    if not s.ami_connected:
        return f"AMI down, reconnecting to {s.ami_address}: {calls}; {campaigns}"
    return f"dialing: {calls}; {campaigns}; AMI connected"


class SystemdService:
    """The daemon's side of Type=notify; every method is a no-op when systemd did not start it."""

    def __init__(self, notifier: Notifier, watchdog: Watchdog, *, interval_s: float = STATUS_INTERVAL_S) -> None:
        self.notifier = notifier
        self.watchdog = watchdog
        self.interval_s = interval_s
        self._describe: Callable[[], Snapshot] | None = None
        self._note = ""  # what the last reload did; kept in the status until the next one
        self._last = ""
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SystemdService:
        """Built from $NOTIFY_SOCKET and $WATCHDOG_USEC."""
        notifier = Notifier.from_env(environ)
        return cls(notifier, Watchdog(notifier, watchdog_interval_s(environ)))

    def start(self, describe: Callable[[], Snapshot]) -> None:
        """Begin: the watchdog pings from now on (the database is open, the AMI login may take a while)."""
        self._describe = describe
        self.watchdog.start()
        self._publish()

    def ready(self) -> None:
        """READY=1 with the first status, then a STATUS= update whenever the state changes."""
        if self._describe is None:
            return
        self._last = self._line()
        self.notifier.ready(self._last)
        if self._task is None and self.notifier.enabled:
            self._task = background(self._refresh(), "systemd-status")

    def reloading(self) -> None:
        """RELOADING=1 (the config is being re-read)."""
        self.notifier.reloading("reloading the config")

    def reloaded(self, outcome: str) -> None:
        """READY=1 again after a reload; `outcome` stays in the status until the next reload."""
        self._note = outcome
        if self._describe is None:
            return
        self._last = self._line()
        self.notifier.ready(self._last)

    def stopping(self) -> None:
        """STOPPING=1 and the draining status."""
        if self._describe is None:
            self.notifier.stopping("stopping")
            return
        self._last = self._line()
        self.notifier.stopping(self._last)

    def update(self) -> None:
        """Send the status now if it changed (state transitions call this)."""
        self._publish()

    def _line(self) -> str:
        assert self._describe is not None
        line = status_line(self._describe())
        return f"{line}; {self._note}" if self._note else line

    def _publish(self) -> None:
        if self._describe is None:
            return
        line = self._line()
        if line != self._last:
            self._last = line
            self.notifier.status(line)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            self._publish()

    async def stop(self) -> None:
        """Stop the status updates and the watchdog."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # a failure was logged (tasks.background)
                await task
        await self.watchdog.stop()
        self.notifier.close()
