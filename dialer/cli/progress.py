"""Progress of a long command: a bar on stderr when it is a terminal, nothing in a pipe or a log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from dialer.cli.output import err

Advance = Callable[[int, int | None], None]


@contextmanager
def progress(description: str) -> Iterator[Advance]:
    """Yields `advance(done, total)`; draws a transient bar only when stderr is a terminal."""
    if not err.is_terminal:
        yield lambda done, total: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=err, transient=True) as bar:
        task = bar.add_task(description, total=None)

        def advance(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
