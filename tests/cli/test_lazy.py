"""The lazy command table (dialer.cli.lazy.COMMANDS) says what the modules really register, and
`dialer --help` prints without importing a single command module."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import typer

import dialer.cli
from dialer.cli.lazy import COMMANDS
from tests.cli.hostile import run


def registered() -> dict[str, tuple[str, typer.core.TyperCommand | typer.core.TyperGroup]]:
    """Every top-level command, by importing every module of dialer.cli and calling its register."""
    found = {}
    for info in pkgutil.iter_modules(dialer.cli.__path__):
        module = importlib.import_module(f"dialer.cli.{info.name}")
        if hasattr(module, "register"):
            app = typer.Typer(rich_markup_mode=None)
            module.register(app)
            for name, command in typer.main.get_group(app).commands.items():
                assert name not in found, f"{name} registered by {found[name][0]} and {info.name}"
                found[name] = (info.name, command)
    return found


def test_the_table_names_each_command_its_module_and_its_help_line():
    real = registered()
    assert set(COMMANDS) == set(real)
    for name, (module, line) in COMMANDS.items():
        assert module == real[name][0], name
        assert line == real[name][1].get_short_help_str(10_000), name


def test_help_lists_every_command_and_imports_no_command_module():
    code = ("import json, sys; from dialer.cli import run; run(['--help']); "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('dialer.'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    *help_lines, modules = result.stdout.splitlines()
    loaded = set(json.loads(modules))
    assert not loaded & {f"dialer.cli.{module}" for module, _ in COMMANDS.values()}
    assert "dialer.config" not in loaded
    assert "dialer.compliance" not in loaded
    listed = {line.split()[0] for line in help_lines[help_lines.index("Commands:") + 1:] if line.strip()}
    assert listed == set(COMMANDS)


def test_a_command_runs_through_the_lazy_group_and_a_typo_is_told_the_right_name():
    assert run(["campaign", "--help"]).stdout.splitlines()[0] == "Usage: dialer campaign [OPTIONS] COMMAND [ARGS]..."
    typo = run(["statsu"])
    assert typo.code == 2
    assert "Did you mean 'status'?" in typo.stderr
