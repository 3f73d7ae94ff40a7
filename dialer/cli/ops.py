"""`dialer backup FILE` and `dialer restore FILE`: consistent copies of the database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dialer.cli.common import ConfigOption, WorkdirOption, err, fail, out, resolve_config
from dialer.compliance.settings import registry_dir
from dialer.ops.backup import BackupError, DatabaseInfo, backup, restore
from dialer.ops.lock import LockHeld


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)


def _describe(info: DatabaseInfo) -> str:
    return (f"{info.size_bytes / 1048576:.1f} MiB, schema {info.schema_version}, {info.leads:,} leads, "
            f"{info.attempts:,} attempts ({info.open_attempts:,} open)")


def backup_command(
    file: Annotated[Path, typer.Argument(help="Where to write the copy (replaced atomically if it exists).")],
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Copy the database consistently, while the daemon runs or not (SQLite online backup)."""
    resolved = resolve_config(config, workdir)
    try:
        info = backup(resolved.database.path, file)
    except BackupError as exc:
        fail(str(exc))
    out.print(f"backup written: {info.path} ({_describe(info)})", highlight=False)


def restore_command(
    file: Annotated[Path, typer.Argument(help="A backup written by `dialer backup`.")],
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
    accept_journal_loss: Annotated[bool, typer.Option(
        "--accept-journal-loss", help="Restore even though the compliance journal is missing or incomplete "
        "(changes made after the backup may then be undone).")] = False,
) -> None:
    """Replace the database with a backup; refused while the daemon runs (stop it first).

    Erasures, opt-outs, DNC changes, consent revocations and national registry imports made after
    the backup are re-applied from the compliance journal beside the database, and listed."""
    resolved = resolve_config(config, workdir)
    database = resolved.database.path
    try:
        result = restore(file, database, accept_journal_loss=accept_journal_loss, recordings=resolved.recordings,
                         registry_dir=registry_dir(resolved.dnc, database))
    except LockHeld as exc:
        who = f" (pid {exc.pid})" if exc.pid else ""
        fail(f"the dialer daemon{who} is running on {database}; stop it first (systemctl stop dialer), "
             "then restore")
    except BackupError as exc:
        fail(str(exc))
    out.print(f"restored {database} from {file} ({_describe(result.restored)})", highlight=False)
    if result.previous_copy is not None:
        out.print(f"the database as it was is kept in {result.previous_copy}", highlight=False)
    for note in result.notes:
        err.print(f"warning: {note}", highlight=False, markup=False, soft_wrap=True)
    out.print(f"re-applied {len(result.reapplied)} compliance change(s) made after the backup", highlight=False)
    for line in result.reapplied:
        out.print(f"  re-applied: {line}", highlight=False, markup=False)
    for line in result.skipped:
        out.print(f"  not re-applied: {line}", highlight=False, markup=False)
    for problem in result.files_not_deleted:
        err.print(f"did not delete the recording {problem} of an erased person: look at it, delete it by hand",
                  highlight=False, markup=False)
    if result.restored.open_attempts:
        err.print(f"{result.restored.open_attempts} attempts were live when the backup was taken: the daemon "
                  "reconciles them with Asterisk when it starts", highlight=False)
