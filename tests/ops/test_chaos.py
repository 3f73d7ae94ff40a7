"""A reduced chaos run (bench/chaos.py): SIGKILLs of the daemon while it dials, a PBX restart and an AMI
drop mid-campaign; then the simulator's log and the database say nothing was dialled twice, lost or
unallowed, nobody was called again after answering or opting out, and unknown outcomes are only
Originates the PBX never received."""

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
        [sys.executable, str(CHAOS), "--calls", "120", "--kills", "3", "--pbx-restarts", "1", "--ami-drops", "1",
         "--seed", "11",
         "--concurrent", "30", "--rate", "60", "--max-uptime-s", "3", "--max-down-s", "1.5",
         "--workdir", str(tmp_path), "--details"],
        capture_output=True, text=True, timeout=300)
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout + result.stderr
    match = re.fullmatch(r"chaos: kills=(\d+) pbx_restarts=(\d+) ami_drops=(\d+) calls=(\d+) double_dials=(\d+) "
                         r"lost=(\d+) unallowed=(\d+) unknown=(\d+) unknown_received=(\d+) "
                         r"recalled_after_answer=(\d+) recalled_after_optout=(\d+) mismatched=(\d+)", lines[0])
    assert match, lines[0]
    (kills, restarts, drops, calls, double, lost, unallowed, _unknown, received, recalled_answer, recalled_optout,
     mismatched) = map(int, match.groups())
    assert (kills, restarts, drops) == (3, 1, 1)
    assert calls >= 120
    assert (double, lost, unallowed) == (0, 0, 0), result.stderr
    assert (received, recalled_answer, recalled_optout, mismatched) == (0, 0, 0, 0), result.stderr
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


async def test_the_checks_catch_recalls_after_an_answer_or_an_opt_out_unknowns_the_pbx_saw_and_mismatches(tmp_path):
    import json
    import sqlite3

    from bench import chaos
    from dialer.store import Database

    async with Database.open(tmp_path / "dialer.db"):
        pass  # the schema
    conn = sqlite3.connect(tmp_path / "dialer.db")
    rows = (("a1", "answered", "1"), ("a2", "answered", "1"),  # a person answered 1, who was called again
            ("o1", "opted_out", "2"), ("o2", "busy", "2"),  # 2 opted out, and was called again
            ("u1", "unknown_after_restart", "3"),  # the PBX saw u1 to its end: an outcome replaced by unknown
            ("u2", "unknown_after_restart", "4"),  # u2 never reached the PBX: unknown, nothing lost
            ("m1", "no_answer", "5"))  # the PBX says busy
    with conn:
        conn.execute("INSERT INTO audit (id, at, kind, verdict, rule, actor) VALUES (1, 0, 'gate', 'allow', '', 'd')")
        for call_id, disposition, number in rows:
            conn.execute("INSERT INTO attempts (call_id, lead_id, campaign_id, number, node, audit_id, state, "
                         "disposition, created_at) VALUES (?, 1, 'x', ?, 'n', 1, 'ended', ?, 0)",
                         (call_id, number + call_id, disposition))
    conn.close()

    def originate(t: float, call_id: str, number: str) -> dict:
        return {"kind": "originate", "time": t, "action_id": call_id, "channel": f"Local/1415555010{number}@callees"}

    def end(t: float, call_id: str, outcome: str, talk_s: float | None = None, **cdr_vars: str) -> dict:
        return {"kind": "end", "time": t, "call_id": call_id, "outcome": outcome, "talk_s": talk_s,
                "hangup_by": "callee", "cdr_vars": cdr_vars}

    log = [originate(1, "a1", "1"), end(5, "a1", "answered", 3.0), originate(10, "a2", "1"),
           end(12, "a2", "answered", 1.0),
           originate(1, "o1", "2"), end(4, "o1", "optout", 2.0, dialer_optout="9"), originate(10, "o2", "2"),
           end(11, "o2", "busy"),
           originate(1, "u1", "3"), end(2, "u1", "busy"),
           originate(1, "m1", "5"), end(2, "m1", "busy")]
    (tmp_path / "sim.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    verdict = chaos.check(tmp_path, chaos.Sim(tmp_path, 0))
    assert verdict.recalled_after_answer == 2  # a2, and o2 (the opt-out was a person answering too)
    assert verdict.recalled_after_optout == 1
    assert (verdict.unknown, verdict.unknown_received) == (2, 1)
    assert verdict.lost == 1  # u1's outcome was replaced by unknown
    assert verdict.mismatched == 1
    assert "m1" in verdict.mismatches[0]
    assert not verdict.ok
