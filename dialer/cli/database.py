"""Opening the database from a command: one place that turns every way it can fail into one line.

An admin outside the dialer's group, a read-only copy, a folder without write access (SQLite's WAL
needs to create `-wal` and `-shm` beside the file), a file that is not a database: each ends the
command with exit 1 and a line saying which file, what is wrong and what to do.
"""

from __future__ import annotations

import grp
import os
import pwd
import sqlite3
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from dialer.cli.output import fail
from dialer.config import Config
from dialer.store import Database, StoreError


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def _owner(info: os.stat_result) -> str:
    try:
        user = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        user = str(info.st_uid)
    try:
        group = grp.getgrgid(info.st_gid).gr_name
    except KeyError:
        group = str(info.st_gid)
    return f"{user}:{group} {stat.S_IMODE(info.st_mode):04o}"


def diagnose(path: Path) -> str | None:
    """Why this user cannot use the database at `path` (None if the permissions look fine)."""
    who = _user()
    folder = path.parent if str(path.parent) else Path(".")
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            info = candidate.stat()
        except FileNotFoundError:
            continue
        except OSError as exc:
            return f"{candidate}: cannot reach it ({exc.strerror}); you are {who}"
        if not os.access(candidate, os.R_OK):
            return (f"{candidate}: permission denied: it is {_owner(info)} and you are {who}; run the command as "
                    "the dialer's user (sudo -u dialer dialer ...) or as a member of its group")
        if not os.access(candidate, os.W_OK):
            return (f"{candidate}: read-only for {who} (it is {_owner(info)}); this command needs to write "
                    "the database: run it as the dialer's user")
    if path.exists() and not os.access(folder, os.W_OK | os.X_OK):
        try:
            owner = _owner(folder.stat())
        except OSError:
            owner = "unknown owner"
        return (f"{folder}: {who} cannot create files in the database's folder ({owner}), which SQLite needs for "
                f"{path.name}-wal and -shm; run the command as the dialer's user")
    return None


@asynccontextmanager
async def open_db(config: Config, *, create: bool = False) -> AsyncIterator[Database]:
    """The config's database, or exit 1 with one line saying why it cannot be used."""
    path = config.database.path
    try:
        async with Database.open(path, create=create) as db:
            yield db
    except StoreError as exc:
        fail(diagnose(path) or str(exc), 1)
    except sqlite3.Error as exc:
        reason = diagnose(path)
        if reason is None:
            fail(f"{path}: {exc}; nothing was half written (every change is one transaction)", 1)
        fail(reason, 1)
