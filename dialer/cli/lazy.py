"""The `dialer` command group, whose sub-commands import their module only when they run.

Importing every command module (the daemon, the gate, the DNC index with numpy, structlog, the
reports) took ~0.8 s before `dialer --help` could print a line. The root group knows each
command's name, the module that registers it and the one line `--help` shows for it (`COMMANDS`);
`dialer status` imports only `dialer.cli.reports`. `tests/cli/test_lazy.py` holds the table to what
the modules really register, so a new command or a changed docstring cannot drift from it.
"""

from __future__ import annotations

import importlib
from difflib import get_close_matches
from typing import Any

import typer
from typer import _click
from typer.core import TyperCommand, TyperGroup

# name -> (module under dialer.cli whose `register(app)` adds it, the first sentence of its help),
# in the order `dialer --help` lists them (commands, then groups, as typer orders a registered app).
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("check", "Would the dialer call NUMBER? Prints the verdict and every rule's result (the number masked)."),
    "scrub": ("check", "Run a campaign's whole lead list through the gate without dialling; counts per deciding rule."),
    "callback": ("contact", "Schedule a callback."),
    "forget": ("contact", "Erase a person on request: name, attributes, notes, tags, message texts, recordings, and "
                          "every number of theirs in clear."),
    "run": ("daemon", "Run the daemon in the foreground (systemd runs this)."),
    "check-config": ("daemon", "Validate a config file and print it resolved, secrets masked."),
    "demo": ("demo", "Run a demo campaign end to end on the built-in PBX simulator and print a summary."),
    "init": ("init", "Create the database (and its folder) for this config; an existing one is checked and upgraded, "
                     "never replaced."),
    "import": ("leads", "Import leads: numbers normalised to E.164, duplicates by --duplicates, bad rows reported by "
                        "line."),
    "backup": ("ops", "Copy the database consistently, while the daemon runs or not (SQLite online backup)."),
    "restore": ("ops", "Replace the database with a backup; refused while the daemon runs (stop it first)."),
    "status": ("status", "Whether a daemon runs on this database (its node, its AMI connection), and per campaign: "
                          "its state, live calls and leads waiting."),
    "report": ("reports", "Per campaign: calls, numbers reached, answer and abandon rates (24 h, 30 days), talk time, "
                          "outcomes, gate blocks by rule, attempts per lead, best local hours, recordings missing, "
                          "texts."),
    "sim": ("sim", "Run the Asterisk simulator (AMI over TCP) until SIGTERM; SIGUSR1 drops the AMI clients' sockets."),
    "audit": ("audit", "The audit trail: gate decisions and compliance changes."),
    "campaign": ("campaigns", "Start, pause and stop campaigns."),
    "consent": ("consent", "Consent records (who agreed to be called, for what, until when)."),
    "contact": ("contact", "Contacts: history, search, notes, tags, export."),
    "dnc": ("dnc", "Do-not-call lists, opt-outs and national registries."),
    "leads": ("leads", "A campaign's leads and lead lists: list, count, disable, enable, delete, recycle."),
    "recordings": ("recordings", "Call recordings: problems, retention, legal holds, integrity."),
    "policy": ("policy", "Policy presets: countries, US states and sectors, each rule with its source."),
    "pbx-record": ("pbx_record", "Asterisk's own record of the dialer's calls (cdr_custom)."),
    "survey": ("survey", "Survey campaigns: export answers, select contacts by answer or tag."),
}


def load_module(module: str) -> TyperGroup:
    """Import `dialer.cli.<module>` and return the click group of what its `register(app)` adds."""
    part = typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False, add_completion=False)
    importlib.import_module(f"dialer.cli.{module}").register(part)
    return typer.main.get_group(part)


class LazyGroup(TyperGroup):
    """A typer group that lists the commands of `COMMANDS` and imports one's module when it is run."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._loaded: dict[str, TyperGroup] = {}

    def list_commands(self, ctx: _click.Context) -> list[str]:
        """Every command's name, those of the table and any registered on the group itself."""
        return [*self.commands, *(name for name in COMMANDS if name not in self.commands)]

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        """The command, its module imported the first time it is asked for."""
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = entry[0]
        if module not in self._loaded:
            self._loaded[module] = load_module(module)
        return self._loaded[module].commands.get(cmd_name)

    def format_commands(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        """The command list from the table: no module is imported to print `--help`."""
        rows = [(name, cmd) for name in self.list_commands(ctx)
                if (cmd := self.commands.get(name) or _summary(name)) is not None and not cmd.hidden]
        if not rows:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in rows)  # as click lays it out
        with formatter.section("Commands"):
            formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in rows])

    def resolve_command(self, ctx: _click.Context, args: list[str]) -> tuple[str | None, _click.Command | None,
                                                                             list[str]]:
        """As typer's, with "did you mean" drawn from every command name, loaded or not."""
        try:
            return self._click_resolve_command(ctx, args)
        except _click.exceptions.UsageError as exc:
            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if matches:
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {', '.join(repr(m) for m in matches)}?"
            raise


def _summary(name: str) -> _click.Command | None:
    """A stand-in command holding only the table's help text, to lay out `--help` as click does."""
    entry = COMMANDS.get(name)
    return TyperCommand(name=name, help=entry[1]) if entry is not None else None
