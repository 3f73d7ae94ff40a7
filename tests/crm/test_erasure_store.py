"""Erasure against the store's invariants: a live attempt keeps its row (its outcome still lands),
the one-live-attempt-per-number index and the claim query work with pseudonyms, and the gate
blocks the number when a later import brings it back."""

from __future__ import annotations

from dialer.clock import FakeClock, to_datetime
from dialer.compliance import Channel, GateRequest
from dialer.compliance.live import LiveCompliance
from dialer.crm import erasure
from dialer.numbers import NumberType, PhoneNumber
from dialer.outcome import Disposition
from dialer.retry import LeadStatus, LeadStep
from dialer.store import Database
from dialer.store import calls as store
from tests.crm.helpers import import_people
from tests.e2e.conftest import PIPELINE_POLICY, make_config

ANN = "+14155550123"


class _NoSim:
    port = 1


async def test_forget_during_a_live_call_keeps_its_row_and_the_number_blocked(tmp_path):
    config = make_config(tmp_path, _NoSim(), compliance=PIPELINE_POLICY)  # type: ignore[arg-type]
    await import_people(tmp_path, config, [(ANN, "Ann Lee", "gold")])
    clock = FakeClock()
    async with Database.open(config.database.path) as db:
        key = await db.hash_key()
        now = clock.now()
        async with db.write() as tx:
            [lead] = await store.claim_due(tx, "c1", now, 10)
            record = store.GateRecord(lead.lead_id, "c1", "h", "m", "allow", "allow", "test")
            await store.record_decisions(tx, [store.NewAttempt(record, "call1", ANN, "test")], [], now)
        # Erased while the call is up.
        async with db.write() as tx:
            result = await tx.run(erasure.forget, ANN, "dpo", now, key)
        assert (result.attempts, result.leads, result.numbers) == (1, 1, 1)
        alias = erasure.pseudonym(result.hashes[0])
        [live] = await db.fetchall("SELECT number, state FROM attempts")
        assert (live["number"], live["state"]) == (alias, "originating")
        # The call's outcome still lands on its row, once.
        final = store.FinalUpdate("call1", lead.lead_id, Disposition.ANSWERED, 4, 16, now + 9, now + 2, 7.0, "",
                                  None, None)
        async with db.write() as tx:
            written = await store.apply_changes(tx, [], [final], lambda *_: LeadStep(LeadStatus.FINISHED, now), now)
        assert written == ["call1"]
        # The same number imported again: claimable (the pseudonym's live row does not hide it) ...
        async with db.write() as tx:
            await tx.execute("UPDATE attempts SET state = 'answered' WHERE call_id = 'call1'")  # still up
        await import_people(tmp_path, config, [(ANN, "Ann Lee", "gold")])
        async with db.write() as tx:
            due = await store.claim_due(tx, "c1", now, 10)
            assert [d.number for d in due] == [ANN]
            # ... and the unique live index takes the new attempt beside the pseudonym's.
            record = store.GateRecord(due[0].lead_id, "c1", "h", "m", "allow", "allow", "test")
            ok = await store.record_decisions(tx, [store.NewAttempt(record, "call2", ANN, "test")], [], now)
            assert list(ok.attempt_ids) == ["call2"]
        # The gate, as the daemon loads it, blocks the number for every campaign and channel.
        live = await LiveCompliance.load(config, db, clock)
        number = PhoneNumber(ANN, "US", NumberType.FIXED_LINE_OR_MOBILE, ("America/Los_Angeles",))
        for channel in (Channel.CALL, Channel.SMS):
            decision = live.gate.check(GateRequest(ANN, "US", live.policy_for("c1"), "c1", normalised=number,
                                                   channel=channel), to_datetime(now))
            assert (decision.allowed, decision.rule) == (False, "dnc.erased")
            assert decision.retry_at is None  # for good
