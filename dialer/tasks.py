"""Background tasks whose failure is logged (through structlog, so masked) the moment it happens.

asyncio keeps a task's exception until someone retrieves it; one nobody awaits is reported only when
the task is garbage-collected, by asyncio's handler, as a raw traceback on stderr (outside the log
mask) and possibly long after the fact. `background` logs it at once; `retrieve` is for owners that
let tasks end on their own (a connection's session tasks) and must not leave an exception behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

import structlog

log = structlog.get_logger("dialer.tasks")

T = TypeVar("T")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def _log_failure(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()  # also marks it retrieved: the owner may still await it and see it raised
    if exc is not None:
        log.error("task_failed", task=task.get_name(), error=f"{type(exc).__name__}: {exc}",
                  exc_info=(type(exc), exc, exc.__traceback__))


def background(coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
    """`asyncio.create_task`, plus a log line (`task_failed`) if the task ends with an exception."""
    task = asyncio.create_task(coro, name=name)
    task.add_done_callback(_log_failure)
    return task


def retrieve(tasks: Iterable[asyncio.Task[Any]], event: str = "task_failed", *, level: str = "warning") -> int:
    """Take the exception out of every finished task (logging it at `level`), so none is left for
    asyncio to print at garbage collection; returns how many had one. Call after the failure that
    counts was handled (the others are usually the same cause: a lost connection)."""
    failed = 0
    for task in tasks:
        if not task.done() or task.cancelled():
            continue
        exc = task.exception()
        if exc is not None:
            failed += 1
            log.log(_LEVELS[level], event, task=task.get_name(), error=f"{type(exc).__name__}: {exc}")
    return failed


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], event: str = "task_failed", *,
                          level: str = "warning") -> int:
    """Cancel the tasks still running, wait for all of them, and retrieve what they raised (returns
    how many raised)."""
    pending = list(tasks)
    for task in pending:
        if not task.done():
            task.cancel()
    if pending:
        # asyncio.wait neither raises what the tasks raised nor swallows our own cancellation.
        await asyncio.wait(pending)
    return retrieve(pending, event, level=level)


class PartFailed(Exception):
    """A part of the daemon ended with an exception (or ended while it should run): the daemon stops."""

    def __init__(self, part: str, error: BaseException | None) -> None:
        what = f"{type(error).__name__}: {error}" if error is not None else "ended while the daemon runs"
        super().__init__(f"{part}: {what}")
        self.part = part
        self.error = error


class PartTasks:
    """The owner of the daemon's long-running part tasks (archiver loop, SMS sender, MQTT session,
    refresh loops ...). A task that ends with an exception, or ends at all before `stop()`, is the
    daemon's failure: the first one is kept in `failure` and `failed` is set, so the daemon can stop
    with one line naming the part instead of running on without it. `stop()` cancels what is left
    and waits for it; nothing a part started outlives the daemon."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self.failed = asyncio.Event()
        self.failure: PartFailed | None = None

    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """Run `coro` as the part `name`, owned here."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._ended)
        return task

    def _ended(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()  # retrieved here, so asyncio never prints it at garbage collection
        if error is None and self._stopping:
            return
        if self.failure is None:
            self.failure = PartFailed(task.get_name(), error)
            self.failed.set()
        else:  # a second part failing after the first is usually the same cause: logged, not fatal twice
            log.warning("task_failed", task=task.get_name(), error=str(PartFailed(task.get_name(), error)))

    def stopping(self) -> None:
        """From now on a part that ends normally is not a failure (the daemon is stopping them)."""
        self._stopping = True

    @property
    def running(self) -> list[str]:
        """The names of the part tasks still running."""
        return sorted(task.get_name() for task in self._tasks)

    async def stop(self) -> None:
        """Cancel every part task still running and wait for all of them."""
        self._stopping = True
        await cancel_and_wait(list(self._tasks))
