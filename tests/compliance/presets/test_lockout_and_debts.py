"""Sector rules that live outside the gate, on a real SQLite file: the refusal lockout written in the
outcome's transaction (with its audit row), and the per-debt attempt history the debt cap counts."""

from __future__ import annotations

import pytest

from dialer.compliance.lockout import RefusalLockout, lockout_component, lockout_entries
from dialer.compliance.model import NumberHistory
from dialer.config import parse_config
from dialer.events import CallEvent
from dialer.outcome import Disposition
from dialer.store import Database
from dialer.store import compliance as store
from dialer.store.debts import with_debts
from dialer.tasks import PartTasks
from dialer.tracker import CallState

NOW = 1_800_000_000.0
DAY = 86_400.0
PERSON = "+8613912345678"
CONFIG = {
    "trunks": {"t": {"channel": "PJSIP/{number}@t"}},
    "recordings": {"enabled": True, "retention_days": 1827},
    "campaigns": {
        "insure": {"trunk": "t", "caller_id": "+14155550100", "default_region": "CN",
                   "compliance": {"presets": ["cn-insurance"]}},
        "plain": {"trunk": "t", "caller_id": "+14155550100"},
    },
}


def ended(campaign: str, disposition: Disposition, *, opted_out: bool = False, call_id: str = "c-1") -> CallEvent:
    return CallEvent(call_id, 1, 1, campaign, PERSON, CallState.ENDED, NOW, NOW - 60, disposition=disposition,
                     opted_out=opted_out)


@pytest.fixture
async def db(tmp_path):
    async with Database.open(tmp_path / "dialer.db") as database:
        yield database


@pytest.mark.parametrize(("campaign", "disposition", "opted_out", "locked"), [
    ("insure", Disposition.REJECTED, False, True),
    ("insure", Disposition.OPTED_OUT, True, True),
    ("insure", Disposition.ANSWERED, True, True),  # a key press during an answered call is a refusal
    ("insure", Disposition.NO_ANSWER, False, False),
    ("insure", Disposition.ANSWERED, False, False),
    ("plain", Disposition.REJECTED, False, False),  # not under a preset with a lockout
])
def test_which_outcomes_count_as_a_refusal(campaign, disposition, opted_out, locked):
    config = parse_config(CONFIG, require_secret=False)
    entries = lockout_entries(config, [ended(campaign, disposition, opted_out=opted_out)])
    assert bool(entries) is locked
    if locked:
        assert entries[0].expires_at == NOW + 184 * DAY
        assert entries[0].kind is store.DncKind.OPTOUT
        assert entries[0].campaign is None  # every campaign
        assert entries[0].source == "lockout:cn-insurance/refusal-lockout:call:c-1"


async def test_a_refusal_locks_the_number_out_for_six_months_with_an_audit_row(db):
    config = parse_config(CONFIG, require_secret=False)
    hook = RefusalLockout(lambda: config, await db.hash_key()).on_events
    async with db.write() as tx:
        await tx.run(hook, [ended("insure", Disposition.REJECTED)])
    async with db.read() as tx:
        _, active = await store.active_dnc(tx, NOW + 183 * DAY)
        _, lapsed = await store.active_dnc(tx, NOW + 185 * DAY)
        audit = await tx.fetchall("SELECT kind, rule, detail, number_masked FROM audit WHERE kind = 'dnc_add'")
    assert [(s.kind, s.number, s.expires_at) for s in active] == [(store.DncKind.OPTOUT, PERSON, NOW + 184 * DAY)]
    assert lapsed == []
    assert len(audit) == 1
    assert audit[0]["rule"] == "dnc.optout"
    assert "lockout:cn-insurance/refusal-lockout:call:c-1" in audit[0]["detail"]
    assert PERSON not in audit[0]["number_masked"]


async def test_the_lockout_hook_follows_the_config_in_force(db):
    class Engine:
        def __init__(self, config):
            self.config, self.tx_hooks = config, []

    plain = parse_config({**CONFIG, "campaigns": {"insure": CONFIG["campaigns"]["plain"]}}, require_secret=False)
    engine = Engine(plain)
    component = lockout_component(type("Ctx", (), {"config": plain, "db": db, "engine": engine})())
    await component.start(PartTasks())
    assert len(engine.tx_hooks) == 1
    async with db.write() as tx:
        await tx.run(engine.tx_hooks[0], [ended("insure", Disposition.REJECTED, call_id="before")])
    engine.config = parse_config(CONFIG, require_secret=False)  # a reload puts "insure" under cn-insurance
    async with db.write() as tx:
        await tx.run(engine.tx_hooks[0], [ended("insure", Disposition.REJECTED, call_id="after")])
    await component.stop()
    assert engine.tx_hooks == []
    sources = [r["source"] for r in await db.fetchall("SELECT source FROM dnc_entries")]
    assert sources == ["lockout:cn-insurance/refusal-lockout:call:after"]


async def _person(db: Database, contact: int, debt: str | None, numbers: list[str], attempts: dict[str, list[float]]):
    attributes = "{}" if debt is None else f'{{"debt_id": "{debt}"}}'

    def insert(conn):
        conn.execute("INSERT OR IGNORE INTO campaigns (id, created_at, updated_at) VALUES ('debt', 0, 0)")
        conn.execute("INSERT INTO contacts (id, attributes, created_at, updated_at) VALUES (?, ?, 0, 0)",
                     (contact, attributes))
        for number in numbers:
            conn.execute("INSERT INTO phone_numbers (number, contact_id, region, number_type, created_at) "
                         "VALUES (?, ?, 'US', 'mobile', 0)", (number, contact))
            lead = conn.execute("INSERT INTO leads (campaign_id, number, created_at, updated_at) "
                                "VALUES ('debt', ?, 0, 0)", (number,)).lastrowid
            for i, at in enumerate(attempts.get(number, [])):
                conn.execute("INSERT INTO attempts (call_id, lead_id, campaign_id, number, node, audit_id, state, "
                             "created_at) VALUES (?, ?, 'debt', ?, 'n', 0, 'ended', ?)",
                             (f"{number}-{i}", lead, number, at))

    async with db.write() as tx:
        await tx.run(insert)


async def test_debt_history_counts_the_weeks_calls_to_every_number_of_the_debtor(db):
    home, mobile, other = "+12125550101", "+12125550102", "+12125550103"
    await _person(db, 1, "D-77", [home, mobile], {home: [NOW - 3600, NOW - 8 * DAY], mobile: [NOW - 7200]})
    await _person(db, 2, None, [other], {other: [NOW - 60]})
    async with db.read() as tx:
        got = await with_debts(tx, {home: NumberHistory(), other: NumberHistory()}, NOW)
    assert got[home].debt_id == "D-77"
    assert got[home].debt_attempt_times == (NOW - 7200, NOW - 3600)  # the 8-day-old call is out of the window
    assert got[other].debt_id is None
    assert got[other].debt_attempt_times == ()


async def test_a_campaign_whose_preset_caps_per_debt_refuses_leads_without_a_debt_id(tmp_path):
    from tests.core.test_import import csv_file, people, run_import

    config = parse_config({**CONFIG, "campaigns": {"debt": {
        "trunk": "t", "caller_id": "+14155550100", "compliance": {"presets": ["us-debt-collection"]}}}},
        require_secret=False)
    assert config.required_lead_attributes("debt") == ("debt_id",)
    assert config.required_lead_attributes("nope") == ()
    path = csv_file(tmp_path, "phone,name,Debt ID\n+12125550101,Ann,D-1\n+12125550102,Bob,\n+12125550103,Cy, \n")
    report = await run_import(tmp_path, path, campaign="debt", required_attributes=config.required_lead_attributes(
        "debt"))
    assert [str(b) for b in report.bad] == [
        "line 3: debt_id: empty; the campaign's preset needs a debt_id on every lead (add a debt_id column)",
        "line 4: debt_id: empty; the campaign's preset needs a debt_id on every lead (add a debt_id column)"]
    assert (await people(tmp_path))["+12125550101"][1] == {"debt_id": "D-1"}
