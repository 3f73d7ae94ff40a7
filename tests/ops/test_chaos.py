"""A reduced chaos run (bench/chaos.py): SIGKILLs of the daemon and a PBX restart mid-campaign,
then the simulator's log and the database say nothing was dialled twice, lost or unallowed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

CHAOS = Path(__file__).parents[2] / "bench" / "chaos.py"


@pytest.mark.timeout(300)
def test_reduced_chaos_run_dials_nothing_twice_and_loses_nothing(tmp_path):
    result = subprocess.run(
        [sys.executable, str(CHAOS), "--calls", "120", "--kills", "3", "--pbx-restarts", "1", "--seed", "11",
         "--concurrent", "30", "--rate", "60", "--max-uptime-s", "3", "--max-down-s", "1.5",
         "--workdir", str(tmp_path), "--details"],
        capture_output=True, text=True, timeout=300)
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout + result.stderr
    match = re.fullmatch(r"chaos: kills=(\d+) pbx_restarts=(\d+) calls=(\d+) double_dials=(\d+) lost=(\d+) "
                         r"unallowed=(\d+)", lines[0])
    assert match, lines[0]
    kills, restarts, calls, double, lost, unallowed = map(int, match.groups())
    assert (kills, restarts) == (3, 1)
    assert calls >= 120
    assert (double, lost, unallowed) == (0, 0, 0), result.stderr
    assert result.returncode == 0
    assert "final daemon exit 0" in result.stderr


async def test_the_checks_catch_a_double_dial_a_lost_call_and_an_unallowed_origination(tmp_path):
    import json
    import sqlite3

    from bench import chaos
    from dialer.store import Database

    async with Database.open(tmp_path / "dialer.db"):
        pass  # the schema
    conn = sqlite3.connect(tmp_path / "dialer.db")
    with conn:
        conn.execute("INSERT INTO audit (id, at, kind, verdict, rule, actor) "
                     "VALUES (1, 0, 'gate', 'allow', '', 'dialer')")
        for call_id, state, disposition in (("c1", "ended", "answered"), ("c2", "originating", None)):
            conn.execute("INSERT INTO attempts (call_id, lead_id, campaign_id, number, node, audit_id, state, "
                         "disposition, created_at) VALUES (?, 1, 'x', ?, 'n', 1, ?, ?, 0)",
                         (call_id, call_id, state, disposition))
    conn.close()

    def originate(t: float, call_id: str, number: str) -> dict:
        return {"kind": "originate", "time": t, "action_id": call_id, "channel": f"Local/{number}@callees"}

    log = [originate(1, "c1", "14155550100"), originate(3, "c2", "14155550100"),
           {"kind": "end", "time": 4, "call_id": "c2"}, {"kind": "end", "time": 5, "call_id": "c1"},
           originate(10, "c1", "14155550100"), originate(11, "c3", "14155550101")]
    (tmp_path / "sim.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    sim = chaos.Sim(tmp_path, 0)
    sim.stopped_at.append(20.0)
    verdict = chaos.check(tmp_path, sim)
    assert verdict.calls == 4
    assert verdict.double_dials == 2  # c1 originated twice; c2 up while c1 was up for the same number
    assert verdict.lost == 1  # c2 never got a final outcome
    assert verdict.unallowed == 1  # c3 has no attempt row with an allow decision
