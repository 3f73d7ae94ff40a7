"""Schema migrations, forward only: one module `mNNN_<topic>.py` per step, each defining MIGRATION.

Never edit a released migration; add the next number. Numbers are handed out per feature, so a
build may lack one that another branch reserved (6 can land before 4): every migration is applied
once, whatever its neighbours, and `schema_migrations` records which ones a database has.

Times are unix seconds (REAL, UTC); numbers are E.164 text. SQL stays portable to PostgreSQL (no
SQLite-only functions in the schema) so a shared database is an addition, not a rewrite.
"""

from __future__ import annotations

import importlib
import pkgutil

from dialer.store.migrations.base import Migration


def _discover() -> tuple[Migration, ...]:
    found: list[Migration] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("m") and info.name[1:4].isdigit():
            module = importlib.import_module(f"{__name__}.{info.name}")
            migration: Migration = module.MIGRATION
            if migration.version != int(info.name[1:4]):
                raise RuntimeError(f"{info.name}: declares version {migration.version}")
            found.append(migration)
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions) or (versions and versions[0] < 1):
        raise RuntimeError(f"migrations must have distinct numbers from 1 up, found {versions}")
    return tuple(found)


MIGRATIONS: tuple[Migration, ...] = _discover()

__all__ = ["MIGRATIONS", "Migration"]
