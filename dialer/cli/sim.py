"""`dialer sim`: the PBX simulator on its own, for tests, benchmarks and trying things out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dialer.cli.output import fail

# The simulator's default manager user (dialer.sim.config); tests/cli check that this text says so.
DEFAULT_LOGIN = ("dialer", "dialer-secret")


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("sim")(sim)


def sim(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 = a free one, printed at start).", min=0, max=65535)] = 5038,
    profile: Annotated[Path | None, typer.Option(help="Callee profile (TOML).")] = None,
    log: Annotated[Path | None, typer.Option(help="Write one JSON line per Originate received.")] = None,
    spool_dir: Annotated[Path | None, typer.Option(help="Where recordings go by default.")] = None,
    cdr: Annotated[Path | None, typer.Option(
        help="Write Asterisk's call record here (cdr_custom, as config/asterisk/cdr_custom.conf maps it).")] = None,
    time_scale: Annotated[float | None, typer.Option(help="Multiply every call duration.", min=0.0001)] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed of the profile.")] = None,
    user: Annotated[list[str] | None, typer.Option(
        "--user", metavar="NAME:SECRET", help="A manager login it accepts instead of the default (repeatable).")
    ] = None,
) -> None:
    """Run the Asterisk simulator (AMI over TCP) until SIGTERM; SIGUSR1 drops the AMI clients' sockets.

    It accepts the manager login username "dialer", secret "dialer-secret" (every event and action
    class), unless --user gives others: point a config's [ami] at it with username = "dialer" and
    the secret in the file named by secret_file (or the environment variable DIALER_AMI_SECRET).
    """
    from dialer.sim.callees import ProfileError
    from dialer.sim.cli import run
    from dialer.sim.config import SimUser

    users = None
    if user:
        users = {}
        for text in user:
            name, sep, secret = text.partition(":")
            if not sep or not name or not secret:
                fail(f"--user {text!r}: give NAME:SECRET", 2)
            users[name] = SimUser(secret=secret)
    try:
        code = run(host=host, port=port, profile=profile, log=log, spool_dir=spool_dir, time_scale=time_scale,
                   seed=seed, users=users, cdr=cdr)
    except ProfileError as exc:
        fail(f"--profile {profile}: {exc}", 2)
    except UnicodeError:
        fail(f"--host {host!r} is not a host name or address", 2)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 1)
    raise typer.Exit(code)
