"""Under cn-insurance every call is recorded: a call whose recording never appears raises an alert
that says which preset required it (a real archiver on a real SQLite file, an injected clock)."""

from __future__ import annotations

from pathlib import Path

from dialer.clock import FakeClock
from dialer.compliance import Gate
from dialer.config import parse_config
from dialer.engine import Engine
from dialer.recordings.archiver import Archiver
from dialer.store import Database
from tests.recordings.test_archiver import START, pending, status


async def test_a_missing_recording_under_cn_insurance_raises_an_alert_naming_the_preset(tmp_path: Path):
    config = parse_config({
        "database": {"path": str(tmp_path / "dialer.db")},
        "recordings": {"enabled": True, "spool_dir": str(tmp_path / "spool"), "archive_dir": str(tmp_path / "archive"),
                       "settle_s": 1.0, "close_timeout_s": 10.0, "retention_days": 1827},
        "trunks": {"t": {"channel": "Local/{number}@x"}},
        "campaigns": {"c1": {"trunk": "t", "caller_id": "+14155550100", "default_region": "CN",
                             "compliance": {"presets": ["cn-insurance"]}}},
    }, require_secret=False)
    clock = FakeClock(START)
    alerts = []
    async with Database.open(config.database.path) as db:
        engine = Engine(config, db, Gate(), clock, await db.hash_key())
        engine.alert_hooks.append(alerts.append)
        archiver = Archiver(engine, db, clock)
        await pending(archiver, "c9a")
        await archiver.run_once()
        clock.advance(11.0)
        await archiver.run_once()
        assert (await status(archiver, "c9a"))["status"] == "missing"
    assert [a.kind for a in alerts] == ["recording_missing"]
    assert "preset cn-insurance requires every call recorded (保监发〔2017〕54号)" in alerts[0].message
