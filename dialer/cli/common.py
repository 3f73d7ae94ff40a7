"""What every command shares: finding the config (--config or --workdir), errors, output."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from dialer.config import Config, ConfigError, load_config, parse_config

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
    """Print an error to stderr and exit."""
    err.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def resolve_config(config: Path | None, workdir: Path | None, *, require_secret: bool = False) -> Config:
    """The config named by --config, or a workdir's config, or the default file; exit 2 on errors."""
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
        raise typer.Exit(2) from None


def is_terminal() -> bool:
    """True when stderr is a terminal (progress bars go there)."""
    return sys.stderr.isatty()
