"""The `dialer` command line. Each module of this package with a `register(app)` adds its commands."""

from __future__ import annotations

import importlib
import pkgutil

import typer

from dialer.cli.common import guarded

app = typer.Typer(
    name="dialer",
    help="Outbound-dialing daemon for the Asterisk PBX.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    if hasattr(_module, "register"):
        _module.register(app)


def main() -> None:
    """Console-script entry point (an error no command caught is one line, never a traceback)."""
    guarded(app)
