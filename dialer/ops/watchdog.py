"""The systemd watchdog: WATCHDOG=1 from a task on the daemon's own event loop.

The ping is an asyncio task, not a thread, on purpose: if the loop is stuck (a blocking call, a
busy loop in a handler) the pings stop, systemd's WatchdogSec= expires and the service is killed
and restarted (Restart=on-failure). A thread would keep pinging for a dead daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping

from dialer.ops.notify import Notifier
from dialer.tasks import background


def watchdog_interval_s(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Seconds between pings (half of $WATCHDOG_USEC), or None if no watchdog is asked for.

    $WATCHDOG_PID, when set, names the process the watchdog is meant for (sd_watchdog_enabled(3)).
    """
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    wanted_pid = env.get("WATCHDOG_PID")
    if wanted_pid and wanted_pid != str(pid if pid is not None else os.getpid()):
        return None
    return usec / 2_000_000


class Watchdog:
    """Pings the service manager every `interval_s` while the event loop runs."""

    def __init__(self, notifier: Notifier, interval_s: float | None) -> None:
        self.notifier = notifier
        self.interval_s = interval_s
        self.pings = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        """True when systemd asked for pings and there is a socket to send them to."""
        return self.interval_s is not None and self.notifier.enabled

    def start(self) -> None:
        """Start pinging (no-op when the watchdog is off)."""
        if self.enabled and self._task is None:
            self._task = background(self._run(), "systemd-watchdog")

    async def _run(self) -> None:
        assert self.interval_s is not None
        while True:
            if self.notifier.watchdog():
                self.pings += 1
            await asyncio.sleep(self.interval_s)

    async def stop(self) -> None:
        """Stop pinging."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # a failure was logged (tasks.background)
                await task
