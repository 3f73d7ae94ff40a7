"""Invariant 2 across a power loss: every transaction that writes attempt rows (before their Originates,
or before their text messages) is a durable one (synchronous=FULL for its commit, which
tests/store/test_database_files.py shows is fsynced). Watched on the daemon running calls and texts
against the simulator over TCP, with a spy on `Database.write` that counts the attempt rows each
transaction adds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from dialer.daemon import run_until_settled
from dialer.store import Database, Tx
from tests.e2e.conftest import ANSWERED, import_numbers, number, sim
from tests.sms.test_sms_end_to_end import import_people, sms_config

__all__ = ["sim"]  # the simulator fixture


async def test_every_transaction_that_writes_attempt_rows_is_durable(tmp_path, sim, monkeypatch):
    seen: list[tuple[bool, int]] = []  # (durable, attempt rows it added)
    original = Database.write

    @asynccontextmanager
    async def spied(self: Database, *, durable: bool = False) -> AsyncIterator[Tx]:
        async with original(self, durable=durable) as tx:
            before = await _attempts(tx)
            yield tx
            added = await _attempts(tx) - before
            if added:
                seen.append((durable, added))

    monkeypatch.setattr(Database, "write", spied)
    config = sms_config(tmp_path, sim)
    await import_numbers(tmp_path, config, [number(ANSWERED, i) for i in range(6)])
    await import_people(tmp_path, config, [(number(ANSWERED, 10 + i), "Ada", "gold") for i in range(4)], "s1")
    await run_until_settled(config, ["c1", "s1"])
    assert sum(added for _, added in seen) == 10  # 6 calls and 4 texts
    assert all(durable for durable, _ in seen), seen


async def _attempts(tx: Tx) -> Any:
    row = await tx.fetchone("SELECT COUNT(*) FROM attempts")
    assert row is not None
    return row[0]
