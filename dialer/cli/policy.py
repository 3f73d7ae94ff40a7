"""`dialer policy list|show NAME`: the policy presets a campaign may name, each rule with its source.

Preset files can come from a user's folder (`[presets] dir`), so every text they hold is printed
through the safe console (no markup, no terminal control).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from dialer.cli.common import DEFAULT_CONFIG, ConfigOption, WorkdirOption, fail, out, resolve_config
from dialer.compliance.preset_catalog import PresetCatalog, PresetError, builtin_catalog
from dialer.compliance.preset_model import (
    AbandonRateRule,
    CapRule,
    CooloffRule,
    Preset,
    RefusalLockoutRule,
    RetentionRule,
    WindowRule,
)

policy_app = typer.Typer(help="Policy presets: countries, US states and sectors, each rule with its source.",
                         no_args_is_help=True)


class PolicyFormat(StrEnum):
    """Output formats of the policy commands."""

    TABLE = "table"
    JSON = "json"


FormatOption = Annotated[PolicyFormat, typer.Option("--format", "-f", help="table or json.")]


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""
    app.add_typer(policy_app, name="policy")


def _catalog(config: ConfigOption, workdir: WorkdirOption) -> PresetCatalog:
    if config is None and workdir is None and not DEFAULT_CONFIG.exists():
        return builtin_catalog()  # no config on this machine: the built-in presets are all there is
    try:
        return resolve_config(config, workdir).preset_catalog()
    except PresetError as exc:
        fail(f"presets.dir: {exc}")


def describe_rule(rule: Any) -> str:
    """What a rule demands, in a few words ("at most 3 calls per 24 h per number")."""
    if isinstance(rule, WindowRule):
        return f"calls only {rule.hours.window.describe()} local"
    if isinstance(rule, CapRule):
        return f"at most {rule.max_attempts} calls per {rule.period_h:g} h per {rule.per}"
    if isinstance(rule, CooloffRule):
        return f"no call for {rule.hours:g} h after an abandoned call"
    if isinstance(rule, AbandonRateRule):
        return f"abandon rate at most {rule.max_rate:.1%}"
    if isinstance(rule, RefusalLockoutRule):
        how = ", ".join("key-press opt-out" if d == "opted_out" else f"disposition {d}" for d in rule.dispositions)
        return f"a refusal ({how}) locks the number out for {rule.days} days"
    if isinstance(rule, RetentionRule):
        return f"recordings kept at least {rule.days} days"
    other = {"consent": "calls only with a valid consent record", "recording_required": "every call recorded"}
    return other.get(str(rule.type), str(rule.type))


def _where(preset: Preset, rule: Any) -> str:
    if rule.states:
        return ", ".join(preset.state_names[s] for s in rule.states)
    return " ".join(preset.regions) or "any country without a preset"


@policy_app.command("list")
def list_presets(fmt: FormatOption = PolicyFormat.TABLE, config: ConfigOption = None,
                 workdir: WorkdirOption = None) -> None:
    """Every preset: name, kind, regions, number of rules, title."""
    catalog = _catalog(config, workdir)
    presets = [catalog.get(name) for name in catalog.names()]
    if fmt is PolicyFormat.JSON:
        out.print_json(json.dumps([{"name": p.name, "kind": p.kind, "regions": list(p.regions),
                                    "rules": len(p.rules), "title": p.title,
                                    "file": str(catalog.files[p.name])} for p in presets]))
        return
    table = Table("preset", "kind", "regions", "rules", "title")
    for p in presets:
        table.add_row(p.name, p.kind, " ".join(p.regions) or "(others)", str(len(p.rules)), p.title)
    out.print(table)


@policy_app.command("show")
def show_preset(name: Annotated[str, typer.Argument(help="A preset's name (dialer policy list).")],
                fmt: FormatOption = PolicyFormat.TABLE, config: ConfigOption = None,
                workdir: WorkdirOption = None) -> None:
    """One preset's rules, each with where it applies, its source, date in force and last check."""
    catalog = _catalog(config, workdir)
    try:
        preset = catalog.get(name)
    except KeyError as exc:
        fail(str(exc.args[0]), 2)
    if fmt is PolicyFormat.JSON:
        out.print_json(json.dumps({**preset.model_dump(mode="json"), "file": str(catalog.files[preset.name])}))
        return
    out.print(f"{preset.name}: {preset.title}", style="bold")
    out.print(f"kind {preset.kind}; regions {' '.join(preset.regions) or '(every country without a preset)'}; "
              f"file {catalog.files[preset.name]}")
    for rule in preset.rules:
        source = rule.source
        out.print()
        out.print(f"{rule.id} ({rule.type}, {_where(preset, rule)})", style="bold")
        out.print(f"  {describe_rule(rule)}")
        out.print(f"  source: {source.authority}, {source.section}, in force {source.in_force.isoformat()}"
                  + (f", {source.url}" if source.url else ""))
        out.print(f"  last checked {rule.last_checked.isoformat()}")
        if rule.note:
            out.print(f"  note: {rule.note}")
    out.print()
    out.print("Not legal advice: check each rule against its source before relying on it.")
