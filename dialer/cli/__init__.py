"""The `dialer` command line."""

from __future__ import annotations

import typer

from dialer.cli import campaigns, daemon, demo, leads, reports, sim

app = typer.Typer(
    name="dialer",
    help="Outbound-dialing daemon for the Asterisk PBX.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
daemon.register(app)
demo.register(app)
sim.register(app)
leads.register(app)
reports.register(app)
campaigns.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
