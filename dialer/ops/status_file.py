"""`<database>.status.json`: what a running daemon says about itself, for `dialer status`.

The daemon lock (`lock.py`) answers whether a daemon runs on a database; this file adds what only
the daemon knows: its node name, its pid, whether it is logged in to Asterisk and at which
address, its phase (starting, dialing, draining). The daemon rewrites it atomically (a temporary
file renamed over it) every STATUS_INTERVAL_S and removes it on a clean stop; `written_at` lets a
reader tell a fresh file from one a killed daemon left (the lock tells that too). Live calls per
campaign are not in it: `dialer status` reads them from the attempts table, as committed.
A file rather than a table: a status write every two seconds would take the database's one write
lock from the dialing loop, and a reader needs no access to the database to read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # types only: `dialer status` reads this module and need not load the service's
    from dialer.ops.service import Snapshot
    from dialer.tasks import PartTasks

STATUS_INTERVAL_S = 2.0


def status_path(database: Path) -> Path:
    """The status file next to a database."""
    return database.with_name(database.name + ".status.json")


@dataclass(frozen=True, slots=True)
class DaemonStatus:
    """What the status file holds."""

    pid: int
    node: str
    phase: str
    ami_connected: bool
    ami_address: str
    live_calls: int
    active_campaigns: list[str]
    started_at: float
    written_at: float


def read_status(database: Path) -> DaemonStatus | None:
    """The status a daemon last wrote beside `database` (None if there is none or it cannot be read)."""
    try:
        data = json.loads(status_path(database).read_text(encoding="utf-8"))
        return DaemonStatus(**{name: data[name] for name in DaemonStatus.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError):
        return None


class StatusFile:
    """Keeps the status file current while the daemon runs."""

    def __init__(self, database: Path, node: str, describe: Callable[[], Snapshot],
                 interval_s: float = STATUS_INTERVAL_S) -> None:
        self.path = status_path(database)
        self._node = node
        self._describe = describe
        self._interval_s = interval_s
        self._started_at = time.time()
        self._task: asyncio.Task[None] | None = None

    def start(self, parts: PartTasks) -> None:
        """Write it now, then every interval."""
        self.write()
        self._task = parts.spawn(self._refresh(), "status-file")

    def write(self) -> None:
        """Rewrite the file from the daemon's current snapshot (a failed write is tried again next time)."""
        snapshot = self._describe()
        status = DaemonStatus(os.getpid(), self._node, snapshot.phase, snapshot.ami_connected, snapshot.ami_address,
                              snapshot.live_calls, list(snapshot.active_campaigns), self._started_at, time.time())
        partial = self.path.with_name(self.path.name + ".part")
        with contextlib.suppress(OSError):
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(_plain(asdict(status)), handle)
            os.replace(partial, self.path)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                self.write()
            except Exception:  # a status file is a courtesy: never let it stop the daemon
                # structlog imported here: `dialer status` reads this module and never logs.
                import structlog

                structlog.get_logger("dialer.ops").exception("status_file_failed", path=str(self.path))

    async def stop(self) -> None:
        """Stop refreshing and remove the file (no daemon runs once this returns)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.path.unlink(missing_ok=True)


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in data.items()}
