"""`dialer init`: create the database a config names.

Only three commands create a database where none is: `dialer init`, `dialer import` (a first
campaign's leads) and `dialer demo` (its own fresh folder). The daemon and every other command
refuse a missing one ("create it with `dialer init`"): a typo in database.path must not give the
daemon an empty database without the DNC list, opt-outs and history of the real one. A file that is
there is never replaced, by this command either: an empty file, a file that is not SQLite or an
SQLite database of another program is refused with what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import typer

from dialer.cli.common import ConfigOption, WorkdirOption, fail, out, resolve_config
from dialer.ops.perms import database_files, restrict_umask
from dialer.store import Database, StoreError


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("init")(init)


def init(config: ConfigOption = None, workdir: WorkdirOption = None) -> None:
    """Create the database (and its folder) for this config; an existing one is checked and upgraded,
    never replaced."""
    restrict_umask()  # the database holds numbers: never world-readable
    resolved = resolve_config(config, workdir)
    path = resolved.database.path
    created = not path.exists() and not path.is_symlink()
    try:
        version = asyncio.run(_open(path))
    except StoreError as exc:
        fail(str(exc), 1)
    if not created:
        out.print(f"{path}: already a dialer database (schema version {version}, intact); nothing replaced",
                  markup=False)
        return
    owner = _give_to_folder_owner(path)
    who = f", owned by uid {owner}" if owner is not None else ""
    out.print(f"created the database {path} (schema version {version}, mode 0640{who})", markup=False)


async def _open(path: Path) -> int:
    async with Database.open(path, create=True) as db:
        await db.check_integrity()
        await db.hash_key()  # the key for number hashes, made once with the database
        return await db.schema_version()


def _give_to_folder_owner(path: Path) -> int | None:
    """Run as root (sudo) into the daemon's folder: the files belong to the folder's owner, as the
    daemon (User=dialer) must write them. Returns the new owner's uid, or None if unchanged."""
    if os.geteuid() != 0:
        return None
    folder = path.parent.stat()
    if folder.st_uid == 0:
        return None
    for file in database_files(path):
        with contextlib.suppress(FileNotFoundError):
            os.chown(file, folder.st_uid, folder.st_gid)
    return folder.st_uid
