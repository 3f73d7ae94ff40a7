"""`dialer forget` and recordings: the person's archived files and rows go (the outcome rows say so);
a recording under a legal hold stays, and the erasure says it kept it. `contact show` names each
call's archived file before that."""

from __future__ import annotations

import json
from pathlib import Path

from dialer.config import Config
from dialer.daemon import run_until_settled
from dialer.sim import SimServer
from dialer.store import Database
from tests.crm.helpers import config_file, dialer, import_people
from tests.e2e.conftest import rows
from tests.recordings.conftest import recording_config

ANN, ANN_WORK = "+14155550100", "+14155550200"


async def ann_recorded_on_two_numbers(tmp_path: Path, sim: SimServer) -> Config:
    """Ann, one contact with two numbers (ANN, ANN_WORK), each called once with its call recorded."""
    config = recording_config(tmp_path, sim)
    await import_people(tmp_path, config, [(ANN, "Ann Lee", "gold"), (ANN_WORK, "", "gold")])
    async with Database.open(config.database.path) as db, db.write() as tx:
        owner = (await tx.fetchone("SELECT contact_id FROM phone_numbers WHERE number = ?", (ANN,)))[0]
        await tx.execute("UPDATE phone_numbers SET contact_id = ? WHERE number = ?", (owner, ANN_WORK))
    await run_until_settled(config, ["c1"])
    return config


async def test_forget_deletes_the_persons_recordings_except_one_under_legal_hold(tmp_path, sim):
    config = await ann_recorded_on_two_numbers(tmp_path, sim)
    recorded = {r["number"]: r for r in await rows(
        config, "SELECT a.number, a.call_id, r.path, r.status FROM attempts a "
                "JOIN recordings r ON r.call_id = a.call_id")}
    assert {r["status"] for r in recorded.values()} == {"archived"}
    path = config_file(config, tmp_path)
    shown = json.loads(dialer("contact", "show", ANN, "--format", "json", config=path).stdout)
    assert {a["recording"] for a in shown["attempts"]} == {r["path"] for r in recorded.values()}
    held = recorded[ANN_WORK]
    result = dialer("recordings", "hold", "--call", held["call_id"], "--reason", "dispute 42", config=path)
    assert result.returncode == 0, result.stderr
    result = dialer("forget", ANN, "--yes", config=path)
    assert result.returncode == 0, result.stderr
    assert "1 under legal hold kept" in result.stdout
    gone = recorded[ANN]
    assert not Path(gone["path"]).exists()
    assert Path(held["path"]).exists()
    left = {r["call_id"]: r["status"] for r in await rows(config, "SELECT call_id, status FROM recordings")}
    assert left == {held["call_id"]: "archived"}
    statuses = {r["call_id"]: r["recording_status"] for r in await rows(
        config, "SELECT call_id, recording_status FROM attempts")}
    assert statuses == {gone["call_id"]: "erased", held["call_id"]: "archived"}
    assert all(r["disposition"] == "answered" for r in await rows(config, "SELECT disposition FROM attempts"))


