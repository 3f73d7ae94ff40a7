"""`dialer run` and `dialer check-config`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from dialer.cli.common import DEFAULT_CONFIG, err, out, resolve_config
from dialer.daemon import Daemon
from dialer.logs import configure_logging
from dialer.ops.exit_codes import ExitCode
from dialer.ops.perms import restrict_umask


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""
    app.command("run")(run)
    app.command("check-config")(check_config)


def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="Config file.")] = DEFAULT_CONFIG,
) -> None:
    """Run the daemon in the foreground (systemd runs this).

    Exit status: 0 stopped as asked; 2 usage; 65 database unusable (damaged, empty, not a dialer
    database, newer schema, unreadable outcome journal); 66 no database (`dialer init`); 70 a bug;
    74 the database cannot be written (disk full, I/O, permissions); 75 already running; 77 AMI
    login refused; 78 config error. Every failure is one log line that says what to do.
    """
    restrict_umask()  # the database, its -wal/-shm and archived recordings: never world-readable
    resolved = resolve_config(config, None, require_secret=True, error_code=ExitCode.CONFIG)
    configure_logging(resolved.logging.level, resolved.logging.format)
    code = asyncio.run(Daemon(resolved, config_path=config).run())
    raise typer.Exit(code)


def check_config(
    file: Annotated[Path, typer.Argument(help="Config file to check.")],
    no_secret: Annotated[bool, typer.Option("--no-secret", help="Do not require the AMI secret.")] = False,
) -> None:
    """Validate a config file and print it resolved, secrets masked."""
    config = resolve_config(file, None, require_secret=not no_secret)
    data = config.model_dump(mode="json")
    data["ami"]["secret"] = "***" if config.ami.secret is not None else None
    out.print_json(json.dumps(data))
    for warning in config.mqtt.warnings():
        err.print(f"{file}: warning: {warning}", highlight=False, markup=False, soft_wrap=True)
    err.print(f"{file}: OK", highlight=False)
