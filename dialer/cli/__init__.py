"""The `dialer` command line. Each module of this package with a `register(app)` adds its commands;
`dialer.cli.lazy` imports a command's module only when that command runs (`--help` imports none).

`main` runs a command and turns whatever ends it into an exit code and at most one `error:` line
on stderr: 0 done, 1 failed, 2 usage (a bad argument or option, an unknown name). No traceback
reaches the user (DIALER_DEBUG=1 shows it, for a bug report); a reader that closes the pipe early
(`dialer contact export | head`) ends the command quietly with 141, as SIGPIPE would.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import sys
from collections.abc import Sequence
from typing import Annotated

import typer

from dialer.cli.lazy import LazyGroup
from dialer.ops.perms import restrict_umask

EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a process that SIGPIPE ended
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="dialer",
    cls=LazyGroup,
    help="Outbound-dialing daemon for the Asterisk PBX.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: flags without a `<bool>` type column, docstrings never read as rich markup.
    rich_markup_mode=None,
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # ~20 ms: only for --version

    try:
        return version("dialer")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        print(f"dialer {_version()}")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: Annotated[bool, typer.Option(
        "--version", help="Print the version and exit.", callback=_show_version, is_eager=True)] = False,
) -> None:
    """Outbound-dialing daemon for the Asterisk PBX."""


def print_error(message: str) -> None:
    """`error: <message>` on stderr (the console module loads rich: only on the way out)."""
    from dialer.cli.output import print_error as show

    show(message)


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's last flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def run(args: Sequence[str] | None = None) -> int:
    """Run one command line; returns its exit code (see the module docstring)."""
    try:
        code = app(args=list(sys.argv[1:] if args is None else args), prog_name="dialer", standalone_mode=False)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers below
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print_error("interrupted; every change is one transaction, so nothing was half written")
        return EXIT_INTERRUPTED
    except typer.Abort:
        print_error("aborted")
        return 1
    except typer.TyperException as exc:  # a usage error the option parser found
        return _usage_error(exc)
    except sqlite3.Error as exc:
        print_error(f"database: {exc}; nothing was half written (every change is one transaction)")
        return 1
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            _quiet_stdout()
            return EXIT_BROKEN_PIPE
        where = f"{exc.filename}: " if exc.filename else ""
        print_error(f"{where}{exc.strerror or exc}")
        return 1
    except Exception as exc:  # a bug: one line for the user, the traceback on request
        if os.environ.get("DIALER_DEBUG"):
            raise
        from dialer.logs import mask_text  # structlog and the log setup: ~0.15 s, only for this line

        print_error(f"internal error ({type(exc).__name__}: {mask_text(str(exc))[:300]}); please report it "
                    "(DIALER_DEBUG=1 shows the traceback)")
        return 1
    return code if isinstance(code, int) else 0


def _usage_error(exc: typer.TyperException) -> int:
    code = int(getattr(exc, "exit_code", 2))
    if type(exc).__name__ == "NoArgsIsHelpError":  # `dialer campaign` alone: its help
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            print(ctx.get_help())
        return code
    format_message = getattr(exc, "format_message", None)
    message = (format_message() if callable(format_message) else str(exc)).replace("Value error, ", "")
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", "dialer") if ctx is not None else "dialer"
    print_error(f"{message} (see {path} --help)")
    return code


def main() -> None:
    """Console-script entry point."""
    # Whatever a command writes (database, exports, logs, the demo's files) holds numbers: never
    # readable by other users, whatever umask the shell had.
    restrict_umask()
    sys.exit(run())
