"""The store: SQLite through aiosqlite, WAL, one writer at a time, versioned forward migrations."""

from dialer.store.db import Database, StoreError, Tx

__all__ = ["Database", "StoreError", "Tx"]
