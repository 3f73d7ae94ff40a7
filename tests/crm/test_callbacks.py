"""Callbacks: scheduled by a person (`dialer callback`) or by the callee (a key in the dialplan), each
still judged by the gate when it is due."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dialer.cli.compliance_args import iso
from dialer.daemon import run_until_settled
from dialer.sim import Outcome, Profile, Rule, SimConfig, SimServer, SimUser
from dialer.store import Database
from tests.crm.helpers import config_file, dialer, dialer_beside, import_people
from tests.e2e.conftest import ANSWERED, SECRET, TIME_SCALE, make_config, number, rows, sim_log
from tests.e2e.test_compliance import WEEKDAYS, audit, running, until


def originations(tmp_path, target: str) -> list[dict]:
    digits = target[1:]
    return [o for o in sim_log(tmp_path) if f"/{digits}@" in o["channel"]]


async def test_a_callback_fires_at_its_time_and_goes_through_the_gate(tmp_path, sim):
    config = make_config(tmp_path, sim)
    ann = number(ANSWERED, 1)
    await import_people(tmp_path, config, [(ann, "Ann Lee", "gold")])
    await run_until_settled(config, ["c1"])
    path = config_file(config, tmp_path)
    async with running(config):
        due = float(int(time.time()) + 2)  # whole seconds: the command takes ISO-8601 to the second
        result = await dialer_beside("callback", ann, "--at", iso(due), "--campaign", "c1", "--by", "maria",
                                     config=path)
        assert result.returncode == 0, result.stderr
        assert "goes through the gate" in result.stdout
        assert ann not in result.stdout  # masked on screen too: it is a log line's twin
        await until(lambda: len(originations(tmp_path, ann)) == 2)
    first, second = originations(tmp_path, ann)
    assert second["time"] >= due  # not before its time
    [callback] = await rows(config, "SELECT * FROM callbacks")
    assert (callback["source"], callback["requested_by"], callback["status"]) == ("cli", "maria", "fired")
    assert callback["fired_call_id"] == second["action_id"]
    [lead] = await rows(config, "SELECT status, attempts, priority FROM leads")
    assert (lead["status"], lead["attempts"], lead["priority"]) == ("finished", 2, 0)  # its own priority back
    allowed = await rows(config, "SELECT call_id FROM audit WHERE kind = 'gate' AND verdict = 'allow' ORDER BY id")
    assert [a["call_id"] for a in allowed] == [first["action_id"], second["action_id"]]


async def test_a_callback_due_while_the_window_is_closed_is_deferred_to_the_opening(tmp_path, sim):
    zone = ZoneInfo("America/Los_Angeles")
    opening_day = datetime.now(zone).date() + timedelta(days=2)
    hours = {WEEKDAYS[opening_day.weekday()]: ["00:00-24:00"]}  # closed now, open the day after tomorrow
    config = make_config(tmp_path, sim, campaign={"compliance": {"calling_hours": hours}})
    ann = number(ANSWERED, 1)
    await import_people(tmp_path, config, [(ann, "Ann Lee", "gold")])
    async with Database.open(config.database.path) as db, db.write() as tx:
        await tx.execute("UPDATE leads SET status = 'finished', last_disposition = 'answered'")  # called last week
    result = dialer("callback", ann, "--at", "0m", config=config_file(config, tmp_path))  # due now
    assert result.returncode == 0, result.stderr
    async with running(config):
        await until(lambda: audit(config, "window.hours"))
    expected = datetime(opening_day.year, opening_day.month, opening_day.day, tzinfo=zone).timestamp()
    [lead] = await rows(config, "SELECT status, next_attempt_at, attempts FROM leads")
    assert (lead["status"], lead["next_attempt_at"], lead["attempts"]) == ("pending", expected, 0)
    [callback] = await rows(config, "SELECT status FROM callbacks")
    assert callback["status"] == "pending"  # it fires at the opening, through the gate again
    assert originations(tmp_path, ann) == []


async def test_the_callee_asks_for_a_callback_with_a_key_and_gets_one_per_campaign_policy(tmp_path):
    profile = Profile(rules=(Rule(r"91$", Outcome.CALLBACK, dtmf_s=1.0),))
    sim_config = SimConfig(users={"dialer": SimUser(secret=SECRET)}, spool_dir=tmp_path / "spool",
                           time_scale=TIME_SCALE, seed=7, log_path=tmp_path / "sim.jsonl", profile=profile)
    async with SimServer(sim_config) as sim:
        config = make_config(tmp_path, sim, campaign={"callbacks": {"enabled": True, "key": "1", "delay_s": 1.0}})
        ann = number(91, 1)
        await import_people(tmp_path, config, [(ann, "Ann Lee", "gold")])
        async with running(config):
            await until(lambda: len(originations(tmp_path, ann)) == 2)
    first, second = originations(tmp_path, ann)
    assert first["variables"]["DIALER_CALLBACK_KEY"] == "1"  # the dialplan offers the key
    attempts = await rows(config, "SELECT call_id, disposition, ended_at FROM attempts ORDER BY id")
    assert attempts[0]["disposition"] == "answered"
    callbacks = await rows(config, "SELECT source, requested_by, call_id, status, fired_call_id, due_at FROM callbacks "
                                   "ORDER BY id")
    assert (callbacks[0]["source"], callbacks[0]["requested_by"]) == ("dialplan", "callee")
    assert callbacks[0]["call_id"] == first["action_id"]
    assert (callbacks[0]["status"], callbacks[0]["fired_call_id"]) == ("fired", second["action_id"])
    assert callbacks[0]["due_at"] == attempts[0]["ended_at"] + 1.0
    assert second["time"] >= callbacks[0]["due_at"]
