"""A write transaction cancelled while its BEGIN is on the database thread leaves no transaction open."""

from __future__ import annotations

import asyncio

from dialer.store import Database


async def test_a_write_cancelled_at_its_begin_leaves_the_connection_usable(tmp_path):
    async with Database.open(tmp_path / "d.db") as db:
        for _ in range(20):  # cancel at the BEGIN (and, some turns, just after it)

            async def write() -> None:
                async with db.write() as tx:
                    await tx.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")

            task = asyncio.create_task(write())
            await asyncio.sleep(0)  # the task now awaits its BEGIN IMMEDIATE
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            async with db.write() as tx:  # would fail: "cannot start a transaction within a transaction"
                await tx.execute("DELETE FROM meta WHERE key = 'k'")
        assert await db.fetchone("SELECT value FROM meta WHERE key = 'k'") is None
