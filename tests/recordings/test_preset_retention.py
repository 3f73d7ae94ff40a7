"""Purge never deletes a recording earlier than the campaign's presets keep it (real calls over the
simulator, real WAV files, an injected clock)."""

from __future__ import annotations

from pathlib import Path

from dialer.clock import FakeClock
from dialer.recordings.retention import DAY_S, purge
from dialer.store import Database
from tests.e2e.conftest import ANSWERED, number
from tests.recordings.test_retention_and_verify import archived_campaign


async def test_purge_keeps_a_cn_insurance_recording_for_five_years_whatever_the_retention_says(tmp_path, sim):
    config, made = await archived_campaign(tmp_path, sim, [number(ANSWERED)], retention_days=30)
    # A config built in-process skips the load-time check that refuses this retention: purge must hold.
    campaign = config.campaigns["c1"].model_copy(update={"compliance": {"presets": ["cn-insurance"]}})
    insured = config.model_copy(update={"campaigns": {"c1": campaign}})
    assert insured.compliance_for("c1").presets == ("cn-insurance",)
    clock = FakeClock(made[0]["created_at"] + 31 * DAY_S)
    async with Database.open(config.database.path) as db:
        assert [f.retention_days for f in (await purge(db, config, clock.now(), dry_run=True)).files] == [30]
        assert (await purge(db, insured, clock.now())).files == []
        assert Path(made[0]["path"]).exists()
        clock.advance((1827 - 31) * DAY_S - 60)
        assert (await purge(db, insured, clock.now())).files == []
        clock.advance(120)
        assert [f.retention_days for f in (await purge(db, insured, clock.now())).files] == [1827]
    assert not Path(made[0]["path"]).exists()
