"""How the command line prints: user data is never markup, never terminal control.

Everything a command prints goes through `out` (stdout) or `err` (stderr). Both are consoles with
markup, emoji codes and highlighting off, and every string they render (a printed string, a table
cell) first passes `clean`: ANSI escape sequences are dropped, and every other control character
(C0 except newline and tab, DEL, C1, and the bidirectional overrides that can reorder what a
terminal shows) is shown as a visible escape such as `\\x07`. A name `[bold red]X[/bold red]`
prints as those characters; `\\x1b[2J` from a CSV cannot clear the screen. Text objects built by
hand must be made with `safe_text` (rich does not route them through `render_str`).

`fail` prints one line (`error: ...`, newlines in the message shown as `\\n`) and exits.
"""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from dialer.terminal import append, clean, safe_text

__all__ = ["SafeConsole", "append", "clean", "err", "error_line", "fail", "out", "print_error", "safe_text"]

class SafeConsole(Console):
    """A rich Console that renders every string as plain, cleaned text."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(markup=False, emoji=False, highlight=False, **kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        """Every str this console renders (printed, or a table cell) becomes plain, cleaned text."""
        kwargs["markup"] = False
        kwargs["emoji"] = False
        kwargs["highlight"] = False
        return super().render_str(clean(text), **kwargs)


err = SafeConsole(stderr=True)
out = SafeConsole(soft_wrap=True)


def error_line(message: str) -> Text:
    """`error: <message>` as one line of text (line breaks in the message shown as \\n)."""
    line = Text("error: ", style="bold red")
    line.append(clean(message.rstrip("\n"), newlines=False))
    return line


def print_error(message: str) -> None:
    """Print `error: <message>` on stderr, one line."""
    err.print(error_line(message), soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print an error to stderr as one line and exit with `code` (2: usage, 1: failure)."""
    print_error(message)
    raise typer.Exit(code)
