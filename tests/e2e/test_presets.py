"""Sector presets end to end: daemon -> AMI over TCP -> simulator, with a real SQLite store.

A campaign under cn-insurance (recorded, 5-year retention): a callee who rejects the call, or
presses the opt-out key, is locked out of every campaign for the preset's six months, with an audit
row; one who answers is not.
"""

from __future__ import annotations

from dialer.daemon import run_until_settled
from dialer.store import Database
from dialer.store import compliance as store
from tests.e2e.conftest import ANSWERED, OPTOUT, REJECTED, import_numbers, make_config, number, rows

DAY = 86_400.0


async def test_a_refusal_under_cn_insurance_locks_the_number_out_for_six_months(tmp_path, sim):
    recordings = {"enabled": True, "spool_dir": str(tmp_path / "spool"), "archive_dir": str(tmp_path / "archive"),
                  "retention_days": 1827}
    config = make_config(tmp_path, sim, campaign={"compliance": {"presets": ["cn-insurance"]}},
                         extra={"recordings": recordings})
    rejects, presses, answers = number(REJECTED), number(OPTOUT), number(ANSWERED)
    await import_numbers(tmp_path, config, [rejects, presses, answers])
    await run_until_settled(config, ["c1"])
    ended = {r["number"]: r for r in await rows(config, "SELECT number, disposition, ended_at FROM attempts")}
    assert ended[rejects]["disposition"] == "rejected"
    entries = await rows(config, "SELECT number, list, campaign_id, source, expires_at FROM dnc_entries "
                                 "WHERE removed_at IS NULL ORDER BY number")
    locked = next(e for e in entries if e["number"] == rejects)
    assert (locked["list"], locked["campaign_id"]) == ("optout", None)
    assert locked["source"].startswith("lockout:cn-insurance/refusal-lockout:call:")
    assert abs(locked["expires_at"] - (ended[rejects]["ended_at"] + 184 * DAY)) < 60
    assert answers not in {e["number"] for e in entries}
    async with Database.open(config.database.path, create=False) as db, db.read() as tx:
        _, active = await store.active_dnc(tx, ended[rejects]["ended_at"] + 183 * DAY)
    by_number = {s.number: s for s in active}
    assert by_number[rejects].expires_at == locked["expires_at"]
    assert by_number[presses].expires_at is None  # the key press's own opt-out lasts for good
    audit = await rows(config, "SELECT detail FROM audit WHERE kind = 'dnc_add' AND detail LIKE '%lockout:%'")
    assert audit
