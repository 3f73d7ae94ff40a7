"""The outbox stays bounded: old published rows go first, a size limit drops the oldest with an alert."""

from __future__ import annotations

import structlog

from dialer.daemon import run_until_settled
from dialer.mqtt.outbox import backlog, fetch_unpublished, insert_rows, mark_published, prune_step
from dialer.store import Database
from tests.e2e.conftest import ANSWERED, import_numbers, number, rows
from tests.mqtt.broker import Broker
from tests.mqtt.conftest import mqtt_config


async def _fill(db: Database, count: int, at: float) -> None:
    async with db.write() as tx:
        await tx.run(insert_rows, [(f"t/{i}", f'{{"i": {i}}}', at) for i in range(count)])


async def test_published_rows_past_the_retention_are_deleted_first(tmp_path):
    async with Database.open(tmp_path / "d.db") as db:
        await _fill(db, 30, at=100.0)
        async with db.write() as tx:
            first = await fetch_unpublished(tx, 0, 20)
            await mark_published(tx, first[0].id, first[9].id, now=100.0)  # old
            await mark_published(tx, first[10].id, first[19].id, now=190.0)  # within the retention
            result = await tx.run(prune_step, 200.0, 60.0, 1000)
        assert (result.deleted_published, result.dropped_unpublished, result.more) == (10, 0, False)
        async with db.read() as tx:
            assert await backlog(tx) == 10
            left = await tx.fetchall("SELECT id FROM outbox ORDER BY id")
        assert [r[0] for r in left] == list(range(11, 31))


async def test_over_the_size_limit_published_rows_go_before_unpublished_ones(tmp_path):
    async with Database.open(tmp_path / "d.db") as db:
        await _fill(db, 250, at=100.0)
        async with db.write() as tx:
            batch = await fetch_unpublished(tx, 0, 100)
            await mark_published(tx, batch[0].id, batch[99].id, now=150.0)
            # 250 rows, limit 120: the 100 published rows go, then the 30 oldest unpublished.
            result = await tx.run(prune_step, 160.0, 3600.0, 120)
        assert (result.deleted_published, result.dropped_unpublished, result.rows_left) == (100, 30, 120)
        async with db.read() as tx:
            waiting = await fetch_unpublished(tx, 0, 1000)
        assert [r.id for r in waiting] == list(range(131, 251))  # the newest are kept, in order


async def test_prune_steps_are_bounded(tmp_path):
    async with Database.open(tmp_path / "d.db") as db:
        await _fill(db, 50, at=100.0)
        async with db.write() as tx:
            await mark_published(tx, 1, 50, now=100.0)
            result = await tx.run(prune_step, 1000.0, 0.0, 1000, 20)
        assert (result.deleted_published, result.more) == (20, True)


async def test_the_newest_row_is_kept_so_ids_never_go_back(tmp_path):
    async with Database.open(tmp_path / "d.db") as db:
        await _fill(db, 10, at=100.0)
        async with db.write() as tx:
            await mark_published(tx, 1, 10, now=100.0)
            result = await tx.run(prune_step, 1000.0, 0.0, 1000)
        assert result.deleted_published == 9
        await _fill(db, 1, at=1000.0)
        async with db.read() as tx:
            assert [r.id for r in await fetch_unpublished(tx, 10, 10)] == [11]  # behind no read position


async def test_a_long_outage_raises_backlog_and_overflow_alerts_and_keeps_the_newest(tmp_path, sim):
    broker = Broker(tmp_path / "broker")  # never started: the broker is down all along
    config = mqtt_config(tmp_path, sim, broker, outbox={"max_rows": 100, "warn_rows": 40, "prune_interval_s": 0.05},
                         campaign={"pacing": {"max_concurrent_calls": 10, "max_originations_per_s": 100}})
    await import_numbers(tmp_path, config, [number(ANSWERED, i) for i in range(60)])
    with structlog.testing.capture_logs() as logs:
        engine = await run_until_settled(config, ["c1"])
    assert engine.stats.ended == 60  # dialing never waited for the broker
    alerts = [line for line in logs if line["event"] == "alert"]
    kinds = [a["kind"] for a in alerts]
    assert kinds.count("outbox_backlog") == 1  # once per crossing, not every prune
    assert "outbox_overflow" in kinds
    overflow = next(a for a in alerts if a["kind"] == "outbox_overflow")
    assert overflow["dropped"] > 0
    assert overflow["limit"] == 100
    left = await rows(config, "SELECT id FROM outbox ORDER BY id")
    ids = [r["id"] for r in left]
    assert ids == list(range(ids[0], ids[-1] + 1))  # the newest rows, nothing missing in between
