"""`dialer pbx-record check`: can the dialer read Asterisk's own record of its calls?

Run it on the PBX host as the dialer's user after installing config/asterisk/cdr_custom.conf and
cdr.conf and placing one call: it names the file, how many records it holds, the newest, and any
line the dialer cannot read. Exit 0 when the record is readable and holds records, 1 otherwise.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from dialer.cli.common import ConfigOption, WorkdirOption, err, fail, out, resolve_config
from dialer.pbxrecord import scan

INSTALL_HINT = ("install config/asterisk/cdr_custom.conf and cdr.conf on Asterisk, `module reload cdr_custom.so`, "
                "place one call (docs/INSTALL.md)")


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""
    group = typer.Typer(help="Asterisk's own record of the dialer's calls (cdr_custom).", no_args_is_help=True)
    group.command("check")(check_command)
    app.add_typer(group, name="pbx-record")


def _when(at: float) -> str:
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{stamp} ({max(0.0, time.time() - at):.0f} s ago)"


def check_command(
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
    path: Annotated[Path | None, typer.Option(help="Read this file instead of [pbx_record] path.")] = None,
) -> None:
    """Show that the dialer can read Asterisk's record: path, records, newest, unreadable lines."""
    settings = resolve_config(config, workdir).pbx_record
    target = path or settings.path
    try:
        found = scan(target, max_bytes=settings.max_read_bytes)
    except OSError as exc:
        fail(f"{target}: cannot read it: {exc.strerror or exc} (give the dialer's user read access: "
             "group dialer, mode 0640, see config/asterisk/README.md)")
    state = "enabled" if settings.enabled else "not enabled: [pbx_record] enabled = false in the config"
    out.print(f"record: {target} ({state})")
    if not found.files:
        fail(f"{target}: no such file: Asterisk has written no record yet; {INSTALL_HINT}")
    out.print(f"files read: {', '.join(str(f) for f in found.files)}")
    newest = _when(found.newest_end) if found.newest_end is not None else "none"
    out.print(f"records: {found.entries} (calls: {len(found.by_call)}), newest ended {newest}")
    out.print(f"unreadable lines: {found.error_count}")
    for error in found.errors:
        err.print(f"  {error}", soft_wrap=True)
    if not found.entries:
        fail(f"{target}: no record the dialer can read; {INSTALL_HINT}")
    if found.error_count:
        out.print("warning: some lines do not match the mapping of config/asterisk/cdr_custom.conf")
    out.print("ok: the dialer can read Asterisk's record" + ("" if settings.enabled else
              " (turn it on with [pbx_record] enabled = true)"))
