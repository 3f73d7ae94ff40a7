"""The archiver: a daemon component that turns pending recordings into archived ones, and purges.

For each pending row (written with the call's final outcome, so also those left by a crash):
wait until Asterisk has closed the file (MixMonitorStop seen, else its size and mtime stay put for
`settle_s`), check it (`wavcheck`), move it into the archive (`files`), store its metadata. A file
that never appears is `missing` after `close_timeout_s`; a file that fails a check is archived as it
is and marked `broken`. A spool entry that is not a plain file of its own (a symbolic link, a FIFO,
a device, a directory, a file with other hard links, or a path outside the spool) is never opened,
moved or changed: it is marked `broken` ("refused: ...; left alone in the spool") with a
`recording_refused` alert naming it, masked (see `files` for how the checks are made on the open
descriptor). All of them raise an alert and are listed by `dialer recordings missing`; none holds up
other recordings or the dialing. Storage failures (disk full, permission denied) raise one
alert naming the path per episode, keep the row pending for a retry every `retry_interval_s`, and
pause dialing while they last if `on_storage_error = "pause"`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

import structlog

from dialer.clock import Clock
from dialer.engine import Engine
from dialer.logs import mask_text
from dialer.ops.metrics import set_recordings_missing
from dialer.recordings import store
from dialer.recordings.config import RecordingsConfig
from dialer.recordings.files import (
    STORAGE_ERRNOS,
    SourceChanged,
    SpoolFile,
    StorageError,
    UnsafeEntry,
    archive,
    archived_file,
    checked_spool_file,
    storage_error,
)
from dialer.recordings.paths import UnsafePath, archive_relative, spool_relative
from dialer.recordings.retention import purge, required_by_preset
from dialer.recordings.wavcheck import WavFacts, inspect, inspect_file
from dialer.store import Database, StoreError
from dialer.store.states import RecordingStatus
from dialer.tasks import PartTasks

log = structlog.get_logger("dialer.recordings")

HOLD_KEY = "recordings-storage"
BATCH = 500


@dataclass(frozen=True, slots=True)
class _Seen:
    """A look at a spool file: the file is closed once this stays the same for `settle_s`."""

    size: int
    mtime_ns: int
    at: float  # monotonic


@dataclass(frozen=True, slots=True)
class _Wait:
    until: float  # monotonic
    seen: _Seen | None = None


@dataclass(frozen=True, slots=True)
class _Failed:
    error: StorageError


@dataclass(frozen=True, slots=True)
class _Refused:
    """A spool entry the archiver will not touch (outside the spool, a link, a FIFO, ...)."""

    result: store.Result


Step = store.Result | _Wait | _Failed | _Refused


def _result(row: store.Pending, facts: WavFacts, path: Path) -> store.Result:
    status = RecordingStatus.ARCHIVED if facts.problem is None else RecordingStatus.BROKEN
    return store.Result(row.call_id, status, facts.problem, str(path), facts.bytes, facts.duration_s, facts.sha256)


class Archiver:
    """Daemon component `recordings`: see the module docstring."""

    name = "recordings"

    def __init__(self, engine: Engine, db: Database, clock: Clock) -> None:
        self.engine = engine
        self.db = db
        self.clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._seen: dict[str, _Seen] = {}
        self._not_before: dict[str, float] = {}  # call id -> monotonic time of its next look
        self._failing: StorageError | None = None  # the storage episode under way, if any
        self._next_purge = 0.0

    @property
    def settings(self) -> RecordingsConfig:
        """The current `[recordings]` section (follows reloads)."""
        return self.engine.config.recordings

    def wake(self) -> None:
        """Look at pending recordings now (a call with a recording has ended)."""
        self._wake.set()

    async def start(self, parts: PartTasks) -> None:
        """Check the archive is writable (before any call is dialled), then run in the background."""
        if self.settings.enabled:
            error = await asyncio.to_thread(_probe, self.settings.archive_dir)
            if error is not None:
                self._storage_failed(error, waiting=0)
        self._next_purge = self.clock.monotonic()
        await self._publish_missing()  # those left missing before a restart count from the start
        self._task = parts.spawn(self._run(), "recordings-archiver")

    async def stop(self) -> None:
        """Archive what the last calls left (up to the close timeout), then stop; the rest waits
        as pending rows for the next start."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        self.engine.release_dispatch(HOLD_KEY)

    async def _run(self) -> None:
        deadline: float | None = None
        while True:
            mono = self.clock.monotonic()
            # Only a pass that began after stop() may end the loop: one already under way may have
            # read the pending rows before the last calls' outcomes were committed.
            stopping = self._stopping
            self._wake.clear()  # here, not before the wait: a wake-up during this pass must not be lost
            if stopping and deadline is None:
                settings = self.settings
                deadline = mono + settings.close_timeout_s + 2 * settings.settle_s
            try:
                next_at = await self.run_once()
                if mono >= self._next_purge and not stopping:
                    await self._purge()
            except (sqlite3.Error, StoreError, OSError) as exc:
                # The archiver outlives a locked database or a file-system fault and tries again; any
                # other exception is a bug: it ends the part, and the daemon with it (PartTasks).
                log.warning("recordings_archiver_failed", error=mask_text(f"{type(exc).__name__}: {exc}"))
                next_at = mono + self.settings.retry_interval_s
            # At stop, rows waiting for the storage to come back would only run out the deadline.
            if stopping and (next_at is None or self._failing is not None
                             or (deadline is not None and self.clock.monotonic() >= deadline)):
                left = await self._pending_count()
                if left:
                    log.warning("recordings_left_pending", count=left, note="archived at the next start")
                return
            wait_s = self._next_purge - self.clock.monotonic()
            if next_at is not None:
                wait_s = min(wait_s, next_at - self.clock.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, wait_s))

    async def _pending_count(self) -> int:
        row = await self.db.fetchone("SELECT COUNT(*) AS n FROM recordings WHERE status = 'pending'")
        return int(row["n"]) if row else 0

    async def run_once(self) -> float | None:
        """Look at every pending recording that is due; returns the monotonic time of the next
        look (None when nothing is pending)."""
        async with self.db.read() as tx:
            rows = await store.pending(tx, BATCH)
        mono = self.clock.monotonic()
        if not rows:
            self._seen.clear()
            self._not_before.clear()
            if self._failing is not None:
                await self._probe_again()
                return mono + self.settings.retry_interval_s if self._failing is not None else None
            return None
        known = {row.call_id for row in rows}
        for stale in [key for key in self._not_before if key not in known]:
            del self._not_before[stale]
            self._seen.pop(stale, None)
        due = [row for row in rows if self._not_before.get(row.call_id, 0.0) <= mono]
        steps = await asyncio.to_thread(self._look_all, due, self.settings, self.clock.now(), mono, dict(self._seen))
        results: list[tuple[store.Pending, store.Result, str | None]] = []
        failures = []
        for row, step in zip(due, steps, strict=True):
            if isinstance(step, store.Result | _Refused):
                refused = isinstance(step, _Refused)
                results.append((row, step.result if isinstance(step, _Refused) else step,
                                "recording_refused" if refused else None))
                self._seen.pop(row.call_id, None)
                self._not_before.pop(row.call_id, None)
            elif isinstance(step, _Wait):
                self._not_before[row.call_id] = step.until
                if step.seen is not None:
                    self._seen[row.call_id] = step.seen
            else:
                failures.append(step.error)
                self._not_before[row.call_id] = mono + self.settings.retry_interval_s
        if results:
            await self._record(results)
        if failures:
            self._storage_failed(failures[0], waiting=len(failures))
        elif self._failing is not None and any(r.path for _, r, _ in results):
            self._storage_recovered()
        if len(rows) >= BATCH:
            return self.clock.monotonic()  # more rows behind this batch
        if len(results) == len(rows):
            return None
        return min(self._not_before.values(), default=self.clock.monotonic())

    # -- one recording (worker thread) ---------------------------------------------------------------

    def _look_all(self, rows: Sequence[store.Pending], settings: RecordingsConfig, now: float, mono: float,
                  seen: dict[str, _Seen]) -> list[Step]:
        return [self._look(row, settings, now, mono, seen.get(row.call_id)) for row in rows]

    def _look(self, row: store.Pending, settings: RecordingsConfig, now: float, mono: float,
              seen: _Seen | None) -> Step:
        try:
            relative = spool_relative(settings, row.source_path)
            target_relative = archive_relative(row.created_at, row.campaign_id, row.call_id)
        except UnsafePath as exc:
            return _Refused(store.Result(row.call_id, RecordingStatus.BROKEN, mask_text(f"not collected: {exc}"),
                                         None, None, None, None))
        spool_path = settings.local_spool.joinpath(*relative.parts)
        target = settings.archive_dir.joinpath(*target_relative.parts)
        try:
            with checked_spool_file(settings.local_spool, relative, twin=target) as source:
                if source.st.st_nlink == 2:
                    # A crash after the file was linked into the archive, before it left the spool.
                    facts = inspect_file(source.handle, row.expected_s, settings.duration_tolerance_s)
                    source.remove()
                    return _result(row, facts, target)
                if not row.stop_seen:
                    look = _Seen(source.st.st_size, source.st.st_mtime_ns, mono)
                    if seen is None or (seen.size, seen.mtime_ns) != (look.size, look.mtime_ns):
                        return _Wait(mono + settings.settle_s, look)
                    if mono - seen.at < settings.settle_s:
                        return _Wait(seen.at + settings.settle_s)
                return self._archive(row, source, target_relative, settings)
        except FileNotFoundError:
            moved = archived_file(settings.archive_dir, target_relative)
            if moved is not None:
                # A crash after the move and before the row was updated: finish from the archive.
                try:
                    return _result(row, inspect(moved, row.expected_s, settings.duration_tolerance_s), moved)
                except OSError as exc:
                    return _Failed(storage_error(exc, moved))
            if now - row.created_at >= settings.close_timeout_s:
                return store.Result(row.call_id, RecordingStatus.MISSING,
                                    mask_text(f"no file at {spool_path} {settings.close_timeout_s:g} s after the "
                                              "call ended"), None, None, None, None)
            return _Wait(mono + min(settings.settle_s, settings.close_timeout_s / 10))
        except UnsafeEntry as exc:
            # Never opened, moved, changed or removed: a person must look at it.
            return _Refused(store.Result(row.call_id, RecordingStatus.BROKEN,
                                         mask_text(f"refused: {exc}; left alone in the spool"),
                                         None, None, None, None))
        except OSError as exc:
            return _Failed(storage_error(exc, spool_path))

    def _archive(self, row: store.Pending, source: SpoolFile, target_relative: PurePath,
                 settings: RecordingsConfig) -> Step:
        try:
            facts: WavFacts = inspect_file(source.handle, row.expected_s, settings.duration_tolerance_s)
        except OSError as exc:
            return _Failed(storage_error(exc, source.path))
        try:
            target = archive(source, settings.archive_dir, target_relative, facts.sha256)
        except SourceChanged:
            return _Wait(self.clock.monotonic() + settings.settle_s)
        except StorageError as exc:
            if exc.code not in STORAGE_ERRNOS:
                log.warning("recording_archive_retry", call_id=row.call_id, error=str(exc))
                return _Wait(self.clock.monotonic() + settings.settle_s)
            return _Failed(exc)
        return _result(row, facts, target)

    # -- results, alerts, storage episodes ------------------------------------------------------------

    async def _record(self, results: list[tuple[store.Pending, store.Result, str | None]]) -> None:
        async with self.db.write() as tx:
            await store.record_results(tx, [r for _, r, _ in results], self.clock.now())
            missing = await store.missing_count(tx)
        set_recordings_missing(missing)
        for row, result, kind in results:
            if result.status is RecordingStatus.ARCHIVED:
                log.info("recording_archived", call_id=row.call_id, campaign=row.campaign_id, path=result.path,
                         bytes=result.bytes, duration_s=result.duration_s)
                continue
            what = {"missing": "is missing", "recording_refused": "was not collected"}.get(
                kind or result.status, "is broken")
            kept = f"; kept as it is at {result.path}" if result.path else ""
            # The path may be one the PBX chose (the Recording header): masked like a log line.
            self.engine.alert(
                kind or f"recording_{result.status}",
                mask_text(f"recording of call {row.call_id} (campaign {row.campaign_id}) {what}: "
                          f"{result.problem}{kept}{required_by_preset(self.engine.config, row.campaign_id)}"),
                call_id=row.call_id, campaign=row.campaign_id, path=mask_text(result.path or row.source_path),
            )

    async def _publish_missing(self) -> None:
        """Set `dialer_recordings_missing` from the database (the rows are the truth, also after a restart)."""
        async with self.db.read() as tx:
            missing = await store.missing_count(tx)
        set_recordings_missing(missing)

    def _storage_failed(self, error: StorageError, waiting: int) -> None:
        settings = self.settings
        # One alert per episode (and one more if the reason changes, e.g. from EPERM to ENOSPC), not one
        # per retry or per folder that fails for the same reason.
        new = self._failing is None or self._failing.reason != error.reason
        if not new:
            log.warning("recordings_storage_still_failing", path=str(error.path), reason=error.reason)
        self._failing = error
        pause = settings.on_storage_error == "pause"
        if pause:
            self.engine.hold_dispatch(HOLD_KEY, f"recordings storage: {error}")
        if new:
            self.engine.alert(
                "storage_error",
                f"recordings: cannot use {error.path}: {error.reason}; {waiting} recording(s) wait in the spool "
                f"and are retried every {settings.retry_interval_s:g} s; dialing "
                f"{'is paused' if pause else 'goes on'} (recordings.on_storage_error = {settings.on_storage_error})",
                path=str(error.path), reason=error.reason, errno=error.code,
            )

    def _storage_recovered(self) -> None:
        log.info("recordings_storage_recovered", path=str(self._failing.path) if self._failing else None)
        self._failing = None
        self.engine.release_dispatch(HOLD_KEY)

    async def _probe_again(self) -> None:
        error = await asyncio.to_thread(_probe, self.settings.archive_dir)
        if error is None:
            self._storage_recovered()
        else:
            self._storage_failed(error, waiting=0)

    async def _purge(self) -> None:
        self._next_purge = self.clock.monotonic() + self.settings.purge_interval_s
        report = await purge(self.db, self.engine.config, self.clock.now(), actor="daemon")
        await self._publish_missing()  # a purged broken recording is no longer missing
        for path, reason in report.failed:
            self.engine.alert("recording_purge_failed", f"recordings: cannot delete {path}: {reason}", path=path)


def _probe(archive_dir: Path) -> StorageError | None:
    """Create, fsync and remove a small file in the archive: None if that works."""
    probe = archive_dir / f".probe-{os.getpid()}"
    try:
        archive_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        probe.unlink(missing_ok=True)  # left by a crash (a link there is removed, never followed)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, b"dialer recordings probe\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        probe.unlink()
    except OSError as exc:
        # Name the archive folder (what the admin fixes), not the probe file in it.
        return StorageError(archive_dir, exc.strerror or str(exc), exc.errno)
    return None
