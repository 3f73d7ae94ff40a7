"""Run command lines of `dialer` in one process and capture everything they print, to the file
descriptors too (a thread's noise, such as aiosqlite's "Event loop is closed", goes there).

Used in-process by test_hostile.py, and as a program (`python -m tests.cli.hostile CASES.json`)
for the runs under another user: it prints one JSON list of results.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import re
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import typer.main

from dialer.ops.exit_codes import ExitCode

# Markup, terminal control, brackets in a file name, and a very long value.
HOSTILE = (
    "[/]",
    "[bold red]MARKUP[/bold red] O[/b]Brien",
    "\x1b[2J\x1b]0;pwned\x07\x01\x7f\x9b31m\u202eevil",
    "leads [final].csv",
    "9" * 30 + "x" * 5000,
)
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True, slots=True)
class Result:
    """What one command line did."""

    args: list[str]
    code: int
    stdout: str
    stderr: str

    def short(self) -> str:
        """The command line, each argument cut to 40 characters."""
        return " ".join(repr(a[:40]) for a in self.args)

    def problems(self) -> list[str]:
        """What breaks the rules: a traceback, an internal error, terminal control in the output, an exit
        code other than 0/1/2 (`dialer run`: its exit-code table), a failure without one `error:` line at the end."""
        found = []
        both = (self.stdout + self.stderr).replace("\r\n", "\n")  # CSV's own line ends are fine
        if "Traceback" in both or "Event loop is closed" in both:
            found.append("traceback")
        if "internal error" in self.stderr:
            found.append("internal error (a bug: an exception no handler expected)")
        if CONTROL.search(both):
            found.append(f"control characters in the output: {CONTROL.findall(both)[:5]!r}")
        # `dialer run` alone exits with its own table (dialer.ops.exit_codes): systemd reads it.
        allowed = (0, 1, 2, *(int(c) for c in ExitCode)) if self.args[:1] == ["run"] else (0, 1, 2)
        if self.code not in allowed:
            found.append(f"exit code {self.code}")
        lines = self.stderr.strip().splitlines()
        verdict = self.args[:1] == ["check"] and self.code == 1 and ": BLOCK at " in self.stdout  # its exit 1
        if self.code != 0 and not verdict and (not lines or not lines[-1].startswith("error: ")):
            found.append("a failure without an `error:` line at the end of stderr")
        if self.code != 0 and lines and lines[-1].startswith("error: ") and "\n" in lines[-1]:
            found.append("a multi-line error")
        return found


def commands() -> list[tuple[tuple[str, ...], typer.main.TyperCommand]]:
    """Every command of the app (walked from the typer app, so a new one is covered by itself)."""
    from dialer.cli import app

    found = []

    def walk(command: object, path: tuple[str, ...]) -> None:
        # Through list_commands/get_command, not `.commands`: the root group loads its commands lazily.
        if isinstance(command, typer.core.TyperGroup):
            ctx = typer.Context(command, info_name=path[-1] if path else "dialer")
            for name in sorted(command.list_commands(ctx)):
                walk(command.get_command(ctx, name), (*path, name))
        else:
            found.append((path, command))

    walk(typer.main.get_command(app), ())
    return found


def run(args: list[str]) -> Result:
    """One command line in this process, its output captured at the Python and the file-descriptor level."""
    from dialer.cli import run as run_cli

    out, err = io.StringIO(), io.StringIO()
    with tempfile.TemporaryFile("w+b") as fd_capture:
        saved = os.dup(2)
        os.dup2(fd_capture.fileno(), 2)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                    contextlib.suppress(SystemExit):
                code = 99
                code = run_cli(args)
        finally:
            gc.enable()  # an import turns the collector off for its length
            os.dup2(saved, 2)
            os.close(saved)
        fd_capture.seek(0)
        fd_text = fd_capture.read().decode("utf-8", errors="replace")
    return Result(args, code, out.getvalue(), err.getvalue() + fd_text)


def main() -> None:
    """`python -m tests.cli.hostile CASES.json`: run each case (a list of arguments), print the results."""
    cases = json.loads(Path(sys.argv[1]).read_text())
    results = [asdict(run(case)) for case in cases]
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    main()
