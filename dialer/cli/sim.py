"""`dialer sim`: the PBX simulator on its own, for tests, benchmarks and trying things out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("sim")(sim)


def sim(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 = a free one, printed at start).")] = 5038,
    profile: Annotated[Path | None, typer.Option(help="Callee profile (TOML).")] = None,
    log: Annotated[Path | None, typer.Option(help="Write one JSON line per Originate received.")] = None,
    spool_dir: Annotated[Path | None, typer.Option(help="Where recordings go by default.")] = None,
    time_scale: Annotated[float | None, typer.Option(help="Multiply every call duration.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed of the profile.")] = None,
) -> None:
    """Run the Asterisk simulator (AMI over TCP) until SIGTERM."""
    from dialer.sim.cli import run

    raise typer.Exit(run(host=host, port=port, profile=profile, log=log, spool_dir=spool_dir,
                         time_scale=time_scale, seed=seed))
