"""The compliance gate end to end: daemon -> AMI over TCP -> simulator, with a real SQLite store.

Opt-outs pressed during calls, DNC lists (also changed while the daemon runs), consent, a closed
calling window and the abandon-rate hold, each judged by the real gate before any Originate.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import tomli_w

from dialer.alerts import Alert
from dialer.config import Config
from dialer.daemon import Daemon, run_until_settled
from dialer.engine import Engine
from dialer.store import Database
from dialer.store import compliance as store
from tests.e2e.conftest import (
    ANSWERED,
    LONG,
    OPTOUT,
    SECRET,
    import_numbers,
    init_database,
    make_config,
    number,
    rows,
    sim_log,
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


async def until(check: Callable[[], Any], timeout_s: float = 60.0) -> None:
    """Wait for a condition (sync or async), polling; fail after a generous timeout."""
    async with asyncio.timeout(timeout_s):
        while True:
            value = check()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return
            await asyncio.sleep(0.02)


@asynccontextmanager
async def running(config: Config, config_path: Path | None = None,
                  on_engine: Callable[[Engine], None] | None = None) -> AsyncIterator[Daemon]:
    """The daemon in-process, logged in to the simulator; stopped (and checked) on exit."""
    await init_database(config)
    daemon = Daemon(config, config_path=config_path, install_signals=False, on_engine=on_engine)
    task = asyncio.create_task(daemon.run())
    try:
        await until(lambda: task.done() or (daemon.ami is not None and daemon.ami.connected))
        assert not task.done(), "the daemon stopped early"
        yield daemon
    finally:
        daemon.stop()
        assert await asyncio.wait_for(task, 60) == 0


async def put_on_dnc(config: Config, *entries: store.NewDncEntry) -> None:
    """What `dialer dnc add` does, from its own connection."""
    async with Database.open(config.database.path) as db:
        stamp = store.ChangeStamp("test", 0.0, await db.hash_key())
        async with db.write() as tx:
            await store.add_dnc(tx, list(entries), stamp)


async def audit(config: Config, rule: str) -> list[dict[str, Any]]:
    """The gate's decisions and campaign holds by `rule` (not the DNC/consent change records)."""
    return await rows(config, "SELECT * FROM audit WHERE rule = ? AND kind IN ('gate', 'campaign_hold') "
                              "ORDER BY id", (rule,))


def originated(tmp_path: Path) -> set[str]:
    """Numbers the simulator was asked to dial (the trunk sends digits without the +)."""
    return {"+" + o["channel"].split("/")[1].split("@")[0] for o in sim_log(tmp_path)}


async def test_an_optout_puts_the_number_on_dnc_and_a_queued_retry_of_it_is_blocked(tmp_path, sim):
    config = make_config(tmp_path, sim)
    config = config.model_copy(update={"campaigns": {**config.campaigns, "c2": config.campaigns["c1"]}})
    person = number(OPTOUT)
    await import_numbers(tmp_path, config, [person, number(ANSWERED)], "c1")
    await import_numbers(tmp_path, config, [person], "c2")  # the same person queued in another campaign
    await run_until_settled(config, ["c1", "c2"])
    assert sorted(originated(tmp_path)) == sorted([person, number(ANSWERED)])  # called once, never again
    entries = await rows(config, "SELECT list, campaign_id, source FROM dnc_entries WHERE number = ?", (person,))
    assert [(e["list"], e["campaign_id"]) for e in entries] == [("optout", None)]
    assert entries[0]["source"].startswith("call:")
    blocked = await audit(config, "dnc.optout")
    assert [(b["verdict"], b["kind"]) for b in blocked] == [("block", "gate")]
    leads = {(r["campaign_id"], r["status"]) for r in await rows(
        config, "SELECT campaign_id, status, last_disposition FROM leads WHERE number = ?", (person,))}
    assert len(leads) == 2
    assert ("c1", "finished") in leads or ("c2", "finished") in leads
    assert any(status == "blocked" for _, status in leads)


async def test_a_dnc_number_is_never_originated_even_when_listed_while_the_daemon_runs(tmp_path, sim):
    config = make_config(tmp_path, sim)
    internal, listed, fine, late = number(LONG, 1), number(LONG, 2), number(ANSWERED, 3), number(ANSWERED, 4)
    await import_numbers(tmp_path, config, [internal, listed, fine, late])
    await put_on_dnc(config, store.NewDncEntry(internal, store.DncKind.INTERNAL, None, "complaint"),
                     store.NewDncEntry(listed, store.DncKind.CAMPAIGN, "c1", "complaint"))
    async with Database.open(config.database.path) as db, db.write() as tx:
        await tx.execute("UPDATE leads SET next_attempt_at = 4e9 WHERE number = ?", (late,))
    async with running(config):
        await until(lambda: fine in originated(tmp_path))
        # Listed by another process while the daemon runs; the lead becomes due only afterwards.
        await put_on_dnc(config, store.NewDncEntry(late, store.DncKind.INTERNAL, None, "complaint"))
        async with Database.open(config.database.path) as db, db.write() as tx:
            await tx.execute("UPDATE leads SET next_attempt_at = 0 WHERE number = ?", (late,))
        await until(lambda: rows(config, "SELECT 1 FROM leads WHERE number = ? AND status = 'blocked'", (late,)))
    assert originated(tmp_path) == {fine}
    assert len(await audit(config, "dnc.internal")) == 2
    assert len(await audit(config, "dnc.campaign")) == 1


async def test_with_consent_required_only_numbers_with_consent_are_dialled(tmp_path, sim):
    config = make_config(tmp_path, sim, campaign={"compliance": {"require_consent": True}})
    granted, other_campaign, none, revoked = (number(ANSWERED, i) for i in range(4))
    await import_numbers(tmp_path, config, [granted, other_campaign, none, revoked])
    async with Database.open(config.database.path) as db:
        stamp = store.ChangeStamp("test", 1.0, await db.hash_key())
        async with db.write() as tx:
            await store.add_consents(tx, [store.NewConsent(granted, "web-form", 0.0),
                                          store.NewConsent(other_campaign, "web-form", 0.0, scope="c2"),
                                          store.NewConsent(revoked, "web-form", 0.0)], stamp)
            await store.revoke_consent(tx, revoked, None, "letter", stamp)
    await run_until_settled(config, ["c1"])
    assert originated(tmp_path) == {granted}
    details = sorted(r["detail"] for r in await audit(config, "consent"))
    assert len(details) == 3
    assert sum("consent required" in d for d in details) == 2
    assert sum("revoked" in d for d in details) == 1


async def test_a_closed_window_defers_the_lead_to_its_next_opening(tmp_path, sim):
    zone = ZoneInfo("America/Los_Angeles")  # 415 numbers
    opening_day = datetime.now(zone).date() + timedelta(days=2)
    hours = {WEEKDAYS[opening_day.weekday()]: ["00:00-24:00"]}  # open only the day after tomorrow
    config = make_config(tmp_path, sim, campaign={"compliance": {"calling_hours": hours}})
    lead = number(ANSWERED)
    await import_numbers(tmp_path, config, [lead])
    async with running(config):
        await until(lambda: audit(config, "window.hours"))
    expected = datetime(opening_day.year, opening_day.month, opening_day.day, tzinfo=zone).timestamp()
    [row] = await rows(config, "SELECT status, attempts, next_attempt_at FROM leads")
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert row["next_attempt_at"] == expected
    assert originated(tmp_path) == set()


async def seed_abandons(config: Config, tmp_path: Path, abandoned: int, answered: int, campaign: str = "c1") -> None:
    """Past calls of `campaign` that ended in the last hour."""
    history = [f"+1212555{1000 + i:04d}" for i in range(abandoned + answered)]
    await import_numbers(tmp_path, config, history, campaign)
    async with Database.open(config.database.path) as db, db.write() as tx:
        marks = ",".join("?" * len(history))
        leads = await tx.fetchall(f"SELECT id, number FROM leads WHERE number IN ({marks})", history)
        now = time.time()
        for i, lead in enumerate(leads):
            disposition = "abandoned" if i < abandoned else "answered"
            await tx.execute(
                "INSERT INTO attempts (call_id, lead_id, campaign_id, number, node, audit_id, state, disposition, "
                "created_at, ended_at) VALUES (?, ?, ?, ?, 'test', 0, 'ended', ?, ?, ?)",
                (f"old{i}", lead["id"], campaign, lead["number"], disposition, now - 3000, now - 2000))
            await tx.execute("UPDATE leads SET status = 'finished' WHERE id = ?", (lead["id"],))


def write_toml(config: Config, path: Path, **compliance: Any) -> Path:
    """The config as a file (for SIGHUP reload), with global compliance changes."""
    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):  # e.g. a survey's questions
            return [clean(v) for v in value]
        return value

    data = clean(config.model_dump(mode="json"))
    data["ami"].pop("secret", None)
    data["compliance"] = {**data["compliance"], **compliance}
    path.write_text(tomli_w.dumps(data))
    return path


async def test_the_abandon_rate_limit_holds_the_campaign_until_a_reload_lifts_it(tmp_path, sim, monkeypatch):
    config = make_config(tmp_path, sim)
    await seed_abandons(config, tmp_path, abandoned=1, answered=9)  # 10% over a 3% limit
    fresh = [number(ANSWERED, i) for i in range(5)]
    await import_numbers(tmp_path, config, fresh)
    alerts: list[Alert] = []
    dispatches: list[int] = []

    def watch(engine: Engine) -> None:
        engine.alert_hooks.append(alerts.append)
        original = engine.dispatch

        async def counted() -> int:
            dispatches.append(1)
            return await original()

        engine.dispatch = counted  # type: ignore[method-assign]

    async with running(config, write_toml(config, tmp_path / "dialer.toml"), watch) as daemon:
        await until(lambda: audit(config, "abandon_rate"))
        seen = len(dispatches)
        await until(lambda: len(dispatches) >= seen + 20)  # many more turns of the loop: still held
        holds = await audit(config, "abandon_rate")
        assert [(h["kind"], h["verdict"], h["lead_id"]) for h in holds] == [("campaign_hold", "block", None)]
        assert "24 h 10.0% (1/10)" in holds[0]["detail"]
        assert [a.kind for a in alerts] == ["abandon_rate_limit"]
        assert originated(tmp_path) == set()
        leads = await rows(config, "SELECT attempts, next_attempt_at FROM leads WHERE status = 'pending'")
        assert [(r["attempts"], r["next_attempt_at"]) for r in leads] == [(0, 0.0)] * 5  # not rescheduled
        # SIGHUP with a higher global limit: the hold is lifted and the campaign dials.
        monkeypatch.setenv("DIALER_AMI_SECRET", SECRET)
        write_toml(config, tmp_path / "dialer.toml", max_abandon_rate=0.2)
        assert daemon.reload()
        await until(lambda: originated(tmp_path) == set(fresh))


async def test_the_pacer_slows_a_campaign_nearing_the_abandon_limit(tmp_path, sim):
    config = make_config(tmp_path, sim, campaign={"pacing": {"max_concurrent_calls": 9,
                                                             "max_originations_per_s": 200}})
    await seed_abandons(config, tmp_path, abandoned=2, answered=98)  # 2% of a 3% limit: a third of the headroom
    calls = [number(LONG, i) for i in range(12)]
    await import_numbers(tmp_path, config, calls)
    await run_until_settled(config, ["c1"])
    assert originated(tmp_path) == set(calls)
    assert sim.max_live_calls == 6  # two thirds of 9 at a time
