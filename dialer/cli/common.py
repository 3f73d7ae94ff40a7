"""What every command shares: finding the config (--config or --workdir), errors, output."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dialer.cli.output import clean, err, fail, out, print_error
from dialer.config import Config, ConfigError, load_config, parse_config

__all__ = ["DEFAULT_CONFIG", "ConfigOption", "WorkdirOption", "clean", "err", "fail", "is_terminal", "out",
           "resolve_config"]

DEFAULT_CONFIG = Path("/etc/dialer/dialer.toml")
WORKDIR_CONFIG = "dialer.toml"

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config file (default /etc/dialer/dialer.toml).")
]
WorkdirOption = Annotated[
    Path | None, typer.Option("--workdir", "-w", help="A demo's working folder (uses its dialer.toml and database).")
]


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
            print_error(f"{exc.source}: {problem}")
        raise typer.Exit(error_code) from None


def is_terminal() -> bool:
    """True when stderr is a terminal (progress bars go there; in a pipe or a log, nothing)."""
    return err.is_terminal
