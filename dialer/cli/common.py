"""What every command shares: finding the config (--config or --workdir), errors, output."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from dialer.config import Config, ConfigError, load_config, parse_config
from dialer.logs import mask_text
from dialer.ops.exit_codes import ExitCode
from dialer.store import DatabaseMissing, DatabaseUnusable, StoreError, is_damage

DEFAULT_CONFIG = Path("/etc/dialer/dialer.toml")
WORKDIR_CONFIG = "dialer.toml"

err = Console(stderr=True, highlight=False)
out = Console(highlight=False, soft_wrap=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config file (default /etc/dialer/dialer.toml).")
]
WorkdirOption = Annotated[
    Path | None, typer.Option("--workdir", "-w", help="A demo's working folder (uses its dialer.toml and database).")
]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print an error to stderr and exit (the message is plain text: a path with [brackets] stays as it is)."""
    err.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)
    raise typer.Exit(code)


def resolve_config(config: Path | None, workdir: Path | None, *, require_secret: bool = False,
                   error_code: int = 2) -> Config:
    """The config named by --config, or a workdir's config, or the default file; exit `error_code`
    (2; `dialer run`: 78, EX_CONFIG) on errors."""
    if config is not None and workdir is not None:
        fail("give --config or --workdir, not both", 2)
    try:
        if workdir is not None:
            path = workdir / WORKDIR_CONFIG
            if path.exists():
                return load_config(path, require_secret=require_secret)
            return parse_config({"database": {"path": str(workdir / "dialer.db")}}, source=str(workdir),
                                require_secret=False)
        return load_config(config or DEFAULT_CONFIG, require_secret=require_secret)
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(f"{exc.source}: {problem}", markup=False, soft_wrap=True)
        raise typer.Exit(error_code) from None


def store_exit_code(exc: StoreError) -> ExitCode:
    """The exit status for a database that cannot be used (the same numbers as `dialer run`)."""
    if isinstance(exc, DatabaseMissing):
        return ExitCode.NO_DATABASE
    if isinstance(exc, DatabaseUnusable):
        return ExitCode.DATABASE_UNUSABLE
    return ExitCode.STORAGE


def guarded(app: Callable[[], object]) -> None:
    """Run the command line; an error no command caught is one line on stderr, never a traceback.

    A damaged database found in the middle of a command (a page SQLite reads only then) is the usual
    one; anything else is a bug, said as such.
    """
    try:
        app()
    except StoreError as exc:
        _last_words(str(exc), store_exit_code(exc))
    except sqlite3.DatabaseError as exc:
        code = ExitCode.DATABASE_UNUSABLE if is_damage(exc) else ExitCode.STORAGE
        _last_words(f"the database failed: {exc}; nothing more was changed (if it is damaged: restore from a "
                    "backup with `dialer restore FILE`)", code)
    except Exception as exc:
        _last_words(f"internal error: {exc.__class__.__name__}: {mask_text(str(exc))} (a bug: please report it)",
                    ExitCode.INTERNAL)


def _last_words(message: str, code: int) -> NoReturn:
    err.print(f"error: {message}", markup=False, soft_wrap=True)
    raise SystemExit(int(code))


def is_terminal() -> bool:
    """True when stderr is a terminal (progress bars go there)."""
    return sys.stderr.isatty()
