"""LiveCompliance: the daemon's DNC index loaded from a real store and real registry files, kept current."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dialer.clock import FakeClock, to_datetime
from dialer.compliance import GateRequest, RegistryFormat, build_registry
from dialer.compliance.live import LiveCompliance
from dialer.compliance.registry import file_checksum
from dialer.config import parse_config
from dialer.store import Database
from dialer.store import compliance as store
from dialer.tasks import PartTasks

from .helpers import CALLER_ID, OPEN_POLICY

A, B, C = "+12125550101", "+12125550102", "+12125550103"
START = 1_800_000_000.0  # 2027-01-15, a Friday


@dataclass
class Recorder:
    """Stands where the engine is: takes the gate, the hooks, and records alerts."""

    gate: Any = None
    optout_hooks: list[Any] = field(default_factory=list)
    gate_sync: list[Any] = field(default_factory=list)
    alerts: list[tuple[str, str]] = field(default_factory=list)

    def alert(self, kind: str, message: str, **data: Any) -> None:
        self.alerts.append((kind, message))


@dataclass
class Call:
    call_id: str
    campaign_id: str
    number: str


def config_for(tmp_path: Path, **dnc: Any):
    return parse_config({
        "database": {"path": str(tmp_path / "dialer.db")},
        "compliance": OPEN_POLICY.model_dump(mode="json"),
        "dnc": {"refresh_interval_s": 0.01, **dnc},
    }, require_secret=False)


@pytest.fixture
async def db(tmp_path):
    async with Database.open(tmp_path / "dialer.db") as database:
        yield database


def verdict(live: LiveCompliance, number: str, clock: FakeClock, campaign: str | None = "c1") -> str:
    request = GateRequest(number=number, default_region="US", policy=OPEN_POLICY, campaign=campaign,
                          caller_id=CALLER_ID)
    decision = live.gate.check(request, to_datetime(clock.now()))
    return decision.rule


async def put(db: Database, *entries: store.NewDncEntry) -> None:
    stamp = store.ChangeStamp("test", START, await db.hash_key())
    async with db.write() as tx:
        await store.add_dnc(tx, list(entries), stamp)


async def registry(db: Database, tmp_path: Path, numbers: list[str], *, as_of: float = START - 86_400,
                   name: str = "us") -> Path:
    """Build (or replace) a registry file and put it on record, as `dialer dnc import` does."""
    source = tmp_path / f"{name}-{len(numbers)}.txt"
    source.write_text("".join(f"{n[2:5]},{n[5:]}\n" for n in numbers))
    target = tmp_path / "registries" / f"{name}.dncreg"
    info = build_registry(source, target, name=name, fmt=RegistryFormat.US_CSV,
                          data_as_of=datetime.fromtimestamp(as_of, UTC))
    stamp = store.ChangeStamp("test", START, await db.hash_key())
    async with db.write() as tx:
        await store.record_registry(tx, store.RegistryRecord(
            name, str(target), as_of, START, info.count, file_checksum(target), 1, info.regions, source.name, ""),
            stamp)
    return target


async def test_lists_load_from_the_store_and_expired_entries_do_not_block(tmp_path, db):
    await put(db, store.NewDncEntry(A, store.DncKind.INTERNAL, None, "x"),
              store.NewDncEntry(B, store.DncKind.CAMPAIGN, "c1", "x"),
              store.NewDncEntry(C, store.DncKind.OPTOUT, None, "x", START - 1))
    clock = FakeClock(START)
    live = await LiveCompliance.load(config_for(tmp_path), db, clock)
    assert verdict(live, A, clock) == "dnc.internal"
    assert verdict(live, B, clock) == "dnc.campaign"
    assert verdict(live, B, clock, campaign="c2") == "allow"
    assert verdict(live, C, clock) == "allow"


async def test_sync_applies_changes_another_process_committed(tmp_path, db):
    clock = FakeClock(START)
    live = await LiveCompliance.load(config_for(tmp_path), db, clock)
    async with Database.open(tmp_path / "dialer.db") as other:  # the CLI's own connection
        await put(other, store.NewDncEntry(A, store.DncKind.OPTOUT, "c1", "letter"))
    assert verdict(live, A, clock) == "allow"  # not seen until the claim transaction syncs
    async with db.write() as tx:
        await live.sync(tx)
    assert verdict(live, A, clock) == "dnc.optout"
    assert verdict(live, A, clock, campaign="c2") == "allow"
    async with Database.open(tmp_path / "dialer.db") as other:
        stamp = store.ChangeStamp("test", START, await other.hash_key())
        async with other.write() as tx:
            await store.remove_dnc(tx, [A], store.DncKind.OPTOUT, "c1", stamp)
    async with db.write() as tx:
        await live.sync(tx)
    assert verdict(live, A, clock) == "allow"


async def test_an_optout_blocks_at_once_and_reaches_the_store(tmp_path, db):
    clock = FakeClock(START)
    live = await LiveCompliance.load(config_for(tmp_path), db, clock)
    live.attach(Recorder())
    live.on_optout(Call("call1", "c1", A))
    assert verdict(live, A, clock, campaign="c2") == "dnc.optout"  # every campaign, before any await
    await live.stop()  # waits for the write
    rows = await db.fetchall("SELECT list, campaign_id, source FROM dnc_entries WHERE number = ?", (A,))
    assert [tuple(r) for r in rows] == [("optout", None, "call:call1")]


async def test_an_optout_recorded_as_an_outcome_but_not_listed_is_recovered_at_start(tmp_path, db):
    """A crash between the outcome commit and the DNC write must not forget the opt-out."""
    async with db.write() as tx:
        await tx.execute("INSERT INTO campaigns (id, state, created_at, updated_at) VALUES ('c1', 'active', 0, 0)")
        await tx.execute("INSERT INTO contacts (id, created_at, updated_at) VALUES (1, 0, 0)")
        await tx.execute("INSERT INTO phone_numbers (number, contact_id, region, number_type, created_at) "
                         "VALUES (?, 1, 'US', 'fixed_line', 0)", (A,))
        await tx.execute("INSERT INTO leads (id, campaign_id, number, created_at, updated_at) "
                         "VALUES (1, 'c1', ?, 0, 0)", (A,))
        await tx.execute("INSERT INTO attempts (call_id, lead_id, campaign_id, number, node, audit_id, state, "
                         "disposition, created_at) VALUES ('call9', 1, 'c1', ?, 'n', 0, 'ended', 'opted_out', 0)", (A,))
    clock = FakeClock(START)
    live = await LiveCompliance.load(config_for(tmp_path), db, clock)
    assert verdict(live, A, clock) == "dnc.optout"
    rows = await db.fetchall("SELECT list, source FROM dnc_entries WHERE number = ?", (A,))
    assert [tuple(r) for r in rows] == [("optout", "call:call9")]
    again = await LiveCompliance.load(config_for(tmp_path), db, clock)  # idempotent
    assert verdict(again, A, clock) == "dnc.optout"
    assert len(await db.fetchall("SELECT 1 FROM dnc_entries WHERE number = ?", (A,))) == 1


async def test_campaign_scoped_optouts_when_configured(tmp_path, db):
    clock = FakeClock(START)
    live = await LiveCompliance.load(config_for(tmp_path, optout_scope="campaign"), db, clock)
    live.on_optout(Call("call1", "c1", A))
    await live.stop()
    assert verdict(live, A, clock, campaign="c1") == "dnc.optout"
    assert verdict(live, A, clock, campaign="c2") == "allow"


async def test_a_swapped_registry_file_is_picked_up_whole(tmp_path, db):
    await registry(db, tmp_path, [A])
    clock = FakeClock(START)
    live = await LiveCompliance.load(config_for(tmp_path), db, clock)
    assert (verdict(live, A, clock), verdict(live, B, clock)) == ("dnc.registry", "allow")
    assert await live.refresh_registries() == []  # unchanged file: nothing reloaded
    await registry(db, tmp_path, [A, B])
    assert await live.refresh_registries() == ["us"]
    assert (verdict(live, A, clock), verdict(live, B, clock)) == ("dnc.registry", "dnc.registry")


async def test_an_unreadable_new_file_leaves_the_old_registry_serving_and_alerts_once(tmp_path, db):
    target = await registry(db, tmp_path, [A])
    clock = FakeClock(START)
    live = await LiveCompliance.load(config_for(tmp_path), db, clock)
    recorder = Recorder()
    live.attach(recorder)
    broken = tmp_path / "broken"
    broken.write_bytes(target.read_bytes()[:-64] + b"\x00" * 64)  # corrupt body: CRC mismatch
    os.replace(broken, target)
    assert await live.refresh_registries() == []
    assert await live.refresh_registries() == []
    assert verdict(live, A, clock) == "dnc.registry"
    assert [kind for kind, _ in recorder.alerts] == ["registry_unreadable"]
    assert "keeps serving" in recorder.alerts[0][1]


async def test_a_registry_on_record_that_cannot_be_loaded_blocks_the_numbers_it_covers(tmp_path, db):
    target = await registry(db, tmp_path, [A])
    target.unlink()
    clock = FakeClock(START)
    live = await LiveCompliance.load(config_for(tmp_path), db, clock)
    assert verdict(live, B, clock) == "dnc.registry_age"  # no US registry loaded, and one is on record
    assert verdict(live, "+442079460958", clock) == "allow"
    recorder = Recorder()
    live.attach(recorder)
    parts = PartTasks()
    await live.start(parts)  # what loading found reaches the engine's alert hooks
    await live.stop()
    await parts.stop()
    assert parts.failure is None
    assert [kind for kind, _ in recorder.alerts] == ["registry_unreadable"]
    assert "is missing; its numbers are blocked" in recorder.alerts[0][1]


async def test_stale_registry_alerts_once_per_change_of_state(tmp_path, db):
    await registry(db, tmp_path, [A], as_of=START)
    clock = FakeClock(START + 86_400)
    live = await LiveCompliance.load(config_for(tmp_path), db, clock)
    recorder = Recorder()
    live.attach(recorder)
    live.check_ages()
    assert recorder.alerts == []
    clock.advance(40 * 86_400)
    live.check_ages()
    live.check_ages()
    assert [kind for kind, _ in recorder.alerts] == ["registry_stale"]
    assert "41 days old" in recorder.alerts[0][1]
    assert verdict(live, B, clock) == "dnc.registry_age"
