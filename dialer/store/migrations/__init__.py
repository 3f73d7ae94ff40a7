"""Schema migrations, forward only: one module `mNNN_<topic>.py` per step, each defining MIGRATION.

Never edit a released migration; add the next number. Times are unix seconds (REAL, UTC); numbers
are E.164 text. SQL stays portable to PostgreSQL (no SQLite-only functions in the schema) so a
shared database is an addition, not a rewrite.
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
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..N without gaps, found {versions}")
    return tuple(found)


MIGRATIONS: tuple[Migration, ...] = _discover()

__all__ = ["MIGRATIONS", "Migration"]
