"""The compliance store on a real SQLite file: DNC entries and their revisions, consents, registry
records, abandon counts and the audit rows every change leaves."""

from __future__ import annotations

import dataclasses

import pytest

from dialer.compliance import AbandonStats, Channel
from dialer.store import Database
from dialer.store import compliance as store

A, B = "+14155550123", "+14155550124"
NOW = 1_800_000_000.0


@pytest.fixture
async def db(tmp_path):
    async with Database.open(tmp_path / "dialer.db") as database:
        yield database


async def change(db: Database, now: float = NOW) -> store.ChangeStamp:
    return store.ChangeStamp("alice", now, await db.hash_key())


async def add(db: Database, *entries: store.NewDncEntry, now: float = NOW) -> int:
    stamp = await change(db, now)
    async with db.write() as tx:
        return await store.add_dnc(tx, list(entries), stamp)


async def test_migration_2_creates_the_compliance_tables(db):
    assert await db.schema_version() >= 2
    tables = {r["name"] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"dnc_entries", "consents", "registries", "compliance_revision"} <= tables


async def test_every_change_takes_a_new_revision_and_changes_report_only_what_changed(db):
    first = await add(db, store.NewDncEntry(A, store.DncKind.INTERNAL, None, "complaint"))
    second = await add(db, store.NewDncEntry(B, store.DncKind.CAMPAIGN, "spring", "cli", NOW + 60))
    assert second == first + 1
    async with db.read() as tx:
        revision, changed = await store.dnc_changes(tx, first)
    assert revision == second
    assert changed == [store.DncState(store.DncKind.CAMPAIGN, "spring", B, True, NOW + 60)]
    async with db.read() as tx:
        assert await store.dnc_changes(tx, second) == (second, [])


async def test_removal_keeps_the_entry_on_record_and_reports_the_key_inactive(db):
    revision = await add(db, store.NewDncEntry(A, store.DncKind.INTERNAL, None, "complaint"))
    stamp = await change(db, NOW + 10)
    async with db.write() as tx:
        assert await store.remove_dnc(tx, [A], store.DncKind.INTERNAL, None, stamp) == 1
    async with db.read() as tx:
        _, changed = await store.dnc_changes(tx, revision)
        kept = await store.list_dnc(tx, include_removed=True)
        active = await store.list_dnc(tx)
    assert changed == [store.DncState(store.DncKind.INTERNAL, None, A, False, None)]
    assert [e.removed_at for e in kept] == [NOW + 10]
    assert active == []


async def test_active_state_merges_entries_and_drops_expired_ones(db):
    await add(db,
              store.NewDncEntry(A, store.DncKind.INTERNAL, None, "a", NOW + 100),
              store.NewDncEntry(A, store.DncKind.INTERNAL, None, "b", None),  # for good wins
              store.NewDncEntry(B, store.DncKind.INTERNAL, None, "c", NOW - 1),  # expired
              store.NewDncEntry(B, store.DncKind.OPTOUT, None, "call:x"))
    async with db.read() as tx:
        _, states = await store.active_dnc(tx, NOW)
    assert sorted(states, key=lambda s: (s.number, s.kind)) == [
        store.DncState(store.DncKind.INTERNAL, None, A, True, None),
        store.DncState(store.DncKind.OPTOUT, None, B, True, None),
    ]


async def test_changes_leave_audit_rows_with_masked_numbers_only(db):
    await add(db, store.NewDncEntry(A, store.DncKind.INTERNAL, None, "complaint"))
    stamp = await change(db)
    async with db.write() as tx:
        await store.add_consents(tx, [store.NewConsent(B, "web-form", NOW)], stamp)
        await store.revoke_consent(tx, B, None, "phone", stamp)
    rows = await db.fetchall("SELECT * FROM audit ORDER BY id")
    assert [r["kind"] for r in rows] == ["dnc_add", "consent_add", "consent_revoke"]
    assert all(r["actor"] == "alice" for r in rows)
    text = " ".join(str(v) for r in rows for v in tuple(r))
    assert not any(n in text for n in (A, B, A[1:], B[1:]))
    assert rows[0]["number_masked"] == "+14*******23"


async def test_consents_come_back_per_number_with_revocations(db):
    stamp = await change(db)
    async with db.write() as tx:
        await store.add_consents(tx, [
            store.NewConsent(A, "form", NOW - 100, "spring", NOW + 100, Channel.CALL),
            store.NewConsent(A, "ivr", NOW - 50),
        ], stamp)
        revoked = await store.revoke_consent(tx, A, "spring", "letter", stamp)
        nothing = await store.revoke_consent(tx, B, None, "phone", stamp)
        found = await store.consents_for(tx, [A, B, "+14155550199"])
    assert (revoked, nothing) == (1, 0)
    assert [(c.source, c.scope, c.revoked_at) for c in found[A]] == [("form", "spring", NOW), ("ivr", None, None)]
    # With nothing to revoke, the revocation itself is on record.
    assert [(c.source, c.revoked_at) for c in found[B]] == [("phone", NOW)]
    assert "+14155550199" not in found


async def test_abandon_stats_count_24_hours_and_30_days_of_one_campaign(db):
    async with db.write() as tx:
        await tx.execute("INSERT INTO campaigns (id, state, created_at, updated_at) VALUES ('c1', 'active', 0, 0)")
        await tx.execute("INSERT INTO contacts (id, created_at, updated_at) VALUES (1, 0, 0)")
        await tx.execute("INSERT INTO phone_numbers (number, contact_id, region, number_type, created_at) "
                         "VALUES (?, 1, 'US', 'mobile', 0)", (A,))
        await tx.execute("INSERT INTO leads (id, campaign_id, number, created_at, updated_at) "
                         "VALUES (1, 'c1', ?, 0, 0)", (A,))
        calls = [("abandoned", NOW - 60), ("answered", NOW - 60), ("opted_out", NOW - 60), ("busy", NOW - 60),
                 ("abandoned", NOW - 3 * 86_400), ("answered", NOW - 3 * 86_400), ("answered", NOW - 40 * 86_400)]
        for i, (disposition, ended) in enumerate(calls):
            await tx.execute(
                "INSERT INTO attempts (call_id, lead_id, campaign_id, number, node, audit_id, state, disposition, "
                "created_at, ended_at) VALUES (?, 1, 'c1', ?, 'n', 0, 'ended', ?, ?, ?)",
                (f"c{i}", A, disposition, ended - 30, ended))
        stats = await store.abandon_stats(tx, "c1", NOW)
        other = await store.abandon_stats(tx, "c2", NOW)
    assert stats == AbandonStats(abandoned_24h=1, live_24h=3, abandoned_30d=2, live_30d=5)
    assert other == AbandonStats()


async def test_registry_records_are_replaced_by_name_and_removed(db):
    stamp = await change(db)
    record = store.RegistryRecord("us", "/x/us.dncreg", NOW - 86_400, NOW, 10, "crc32:00000001", 1,
                                  ("US", "PR"), "dnc.txt", "")
    async with db.write() as tx:
        await store.record_registry(tx, record, stamp)
        await store.record_registry(tx, dataclasses.replace(record, count=11), stamp)
    async with db.read() as tx:
        found = await store.registries(tx)
    assert [r.count for r in found] == [11]
    assert found[0].actor == "alice"
    assert found[0].regions == ("US", "PR")
    async with db.write() as tx:
        assert (await store.remove_registry(tx, "us", stamp)).name == "us"
        assert await store.remove_registry(tx, "us", stamp) is None
        assert await store.registries(tx) == []
