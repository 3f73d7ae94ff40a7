"""The store: SQLite through aiosqlite, WAL, one writer at a time, versioned forward migrations."""

from dialer.store.db import (
    Database,
    DatabaseMissing,
    DatabaseUnusable,
    StorageFailure,
    StoreError,
    Tx,
    is_damage,
    store_error,
)

__all__ = ["Database", "DatabaseMissing", "DatabaseUnusable", "StorageFailure", "StoreError", "Tx", "is_damage",
           "store_error"]
