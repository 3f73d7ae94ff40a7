"""`Database.write_in_thread`: a whole write transaction in one hop to the database thread commits
what its function wrote, or nothing if the function raises; the database stays usable either way."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dialer.store import Database


def put(conn: sqlite3.Connection, key: str, fail: bool) -> int:
    conn.execute("INSERT INTO meta (key, value) VALUES (?, 'v')", (key,))
    if fail:
        raise ValueError("the function failed after its write")
    return int(conn.execute("SELECT COUNT(*) FROM meta WHERE key = ?", (key,)).fetchone()[0])


async def test_a_function_that_returns_commits_and_one_that_raises_rolls_back(tmp_path: Path) -> None:
    path = tmp_path / "dialer.db"
    async with Database.open(path, create=True) as db:
        assert await db.write_in_thread(put, "kept", False) == 1
        with pytest.raises(ValueError, match="after its write"):
            await db.write_in_thread(put, "dropped", True)
        async with db.write() as tx:  # no transaction was left open by the failure
            await tx.execute("INSERT INTO meta (key, value) VALUES ('after', 'v')")
    conn = sqlite3.connect(path)  # read back by another connection: what is on disk
    keys = {row[0] for row in conn.execute("SELECT key FROM meta WHERE key IN ('kept', 'dropped', 'after')")}
    conn.close()
    assert keys == {"kept", "after"}
