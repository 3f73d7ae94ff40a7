"""The exit status of `dialer run`: one number per kind of failure, so systemd (and a person) can tell
a failure that retrying may fix from one that needs a person first.

sysexits.h numbers where one fits (`man sysexits`). systemd/dialer.service lists the ones that a
restart cannot fix in `RestartPreventExitStatus=`; the others are retried within its start limit.
README.md and docs/INSTALL.md carry the same table.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Why `dialer run` ended."""

    OK = 0  # stopped as asked (SIGTERM/SIGINT), every outcome in the database
    USAGE = 2  # the command line itself is wrong (typer/click's own code)
    DATABASE_UNUSABLE = 65  # EX_DATAERR: damaged, empty, not a dialer database, newer schema, bad journal
    NO_DATABASE = 66  # EX_NOINPUT: no database at database.path: `dialer init` creates it
    INTERNAL = 70  # EX_SOFTWARE: a bug; the log line names the exception
    STORAGE = 74  # EX_IOERR: the database cannot be written (disk full, I/O error, permissions)
    ALREADY_RUNNING = 75  # EX_TEMPFAIL: another daemon uses this database
    AMI_LOGIN_REFUSED = 77  # EX_NOPERM: Asterisk refused the manager login (user, secret, permit)
    CONFIG = 78  # EX_CONFIG: the config file is invalid, or a secret cannot be read


# What each code asks of the person who reads it (the README's table is made from the same words).
WHAT_TO_DO: dict[ExitCode, str] = {
    ExitCode.OK: "nothing",
    ExitCode.USAGE: "fix the command line (dialer run --help)",
    ExitCode.DATABASE_UNUSABLE: "restore the database from a backup with `dialer restore FILE` (or upgrade the "
                                "dialer, for a newer schema)",
    ExitCode.NO_DATABASE: "create the database with `dialer init`, or fix database.path",
    ExitCode.INTERNAL: "a bug: report the log line; systemd restarts the daemon",
    ExitCode.STORAGE: "free space on the database's file system or fix its owner/mode; systemd retries",
    ExitCode.ALREADY_RUNNING: "stop the other daemon first (its pid is in the log line)",
    ExitCode.AMI_LOGIN_REFUSED: "fix the manager.conf user or the secret; systemd retries a few times",
    ExitCode.CONFIG: "fix the config file (`dialer check-config FILE`)",
}

# Failures a restart cannot fix: systemd/dialer.service's RestartPreventExitStatus= (a test compares).
NOT_RETRIED = (ExitCode.USAGE, ExitCode.DATABASE_UNUSABLE, ExitCode.NO_DATABASE, ExitCode.CONFIG)
