"""An Originate whose answer cannot be read is "maybe placed": never a second call to the same person.

Issue 11: a response with a few bytes glued in front was taken for a refusal; the attempt ended
`failed`, left tracking while the PBX still had the call, and the retry dialled again (three live
calls to one number). Here the simulator damages the answer to each first Originate in every way
a frame can be damaged (dialer.sim.ResponseFault) and places the call all the same; the checks
read the simulator's own log of what it was sent and what each call did.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from dialer.config import Config
from dialer.daemon import Daemon, run_until_settled
from dialer.numbers import mask
from dialer.sim import ResponseFault, SimServer
from tests.e2e.conftest import (
    ANSWERED,
    BUSY,
    CHANNEL_FAILURE,
    NO_ANSWER,
    import_numbers,
    init_database,
    make_config,
    number,
    rows,
    sim_log,
)

NUMBERS = [number(ANSWERED, 1), number(ANSWERED, 2), number(BUSY, 3), number(NO_ANSWER, 4), number(CHANNEL_FAILURE, 5)]
# What the simulator's call-end `outcome` means in the dialer's words.
SIM_DISPOSITION = {"answered": "answered", "busy": "busy", "no_answer": "no_answer", "channel_failure": "failed"}
# A refusal or an unknown outcome would be dialled again at once: a wrong "not placed" shows as a second call.
RETRY_AT_ONCE = {"failed": {"delay_s": 0, "max_attempts": 3}, "unknown": {"delay_s": 0, "max_attempts": 3}}
ACTION_TIMEOUT_S = 1.0


async def _run(tmp_path: Path, sim: SimServer, unconfirmed: int) -> Config:
    """Run the daemon until every lead is settled, no call is live and the unconfirmed answers are on record."""
    config = make_config(tmp_path, sim, retry=RETRY_AT_ONCE, extra={"ami": {
        "port": sim.port, "ping_interval_s": 1.0, "ping_timeout_s": 1.0, "reconnect_initial_s": 0.05,
        "reconnect_max_s": 0.5, "action_timeout_s": ACTION_TIMEOUT_S}})
    await init_database(config)
    await import_numbers(tmp_path, config, NUMBERS)
    daemon = Daemon(config, install_signals=False)
    task = asyncio.create_task(daemon.run())
    loop = asyncio.get_running_loop()
    settled_at: float | None = None
    try:
        async with asyncio.timeout(60):
            while not task.done():
                await asyncio.sleep(0.05)
                if daemon.engine is None or len(daemon.engine.tracker):
                    continue
                leads = await rows(config, "SELECT COUNT(*) AS n FROM leads WHERE status IN ('pending', 'dialing')")
                if leads[0]["n"]:
                    continue
                settled_at = settled_at or loop.time()
                audit = await rows(config, "SELECT COUNT(*) AS n FROM audit WHERE kind = 'originate_unconfirmed'")
                # The answers' timeouts may fire after the calls ended: give them that long, no more.
                if audit[0]["n"] >= unconfirmed or loop.time() - settled_at > 3 * ACTION_TIMEOUT_S:
                    break
    finally:
        daemon.stop()
        await task
    return config


def _check_the_simulators_log(tmp_path: Path, attempts: list[dict[str, Any]]) -> None:
    originated = sim_log(tmp_path, "originate")
    ended = {e["action_id"]: e for e in sim_log(tmp_path, "end")}
    by_call = {a["call_id"]: a for a in attempts}
    # One Originate per attempt, and no Originate without an attempt.
    assert Counter(o["action_id"] for o in originated) == Counter(list(by_call))
    # At most one live call per number: each call ended before the next one to that number began.
    spans = defaultdict(list)
    for o in originated:
        spans[by_call[o["action_id"]]["number"]].append((o["time"], ended[o["action_id"]]["time"]))
    for number_, calls in spans.items():
        calls.sort()
        assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(calls)), mask(number_)
    # What the dialer recorded is what the PBX says happened.
    assert {c: a["disposition"] for c, a in by_call.items()} == {
        c: SIM_DISPOSITION[ended[c]["outcome"]] for c in by_call}


@pytest.mark.parametrize("fault", [f for f in ResponseFault if f is not ResponseFault.SPLIT])
async def test_an_unreadable_answer_is_never_taken_for_a_refusal(tmp_path, sim, fault):
    sim.faults.originate_responses = [fault] * len(NUMBERS)
    config = await _run(tmp_path, sim, unconfirmed=len(NUMBERS))
    attempts = await rows(config, "SELECT call_id, number, state, disposition FROM attempts")
    assert all(a["state"] == "ended" for a in attempts)
    _check_the_simulators_log(tmp_path, attempts)
    damaged = [o["action_id"] for o in sim_log(tmp_path) if o.get("fault") == fault.value]
    assert len(damaged) == len(NUMBERS)
    # Each damaged answer is on record as unconfirmed (the number never in clear); a person who
    # answered is called once, whatever became of the answer to the Originate.
    audit = await rows(config, "SELECT call_id, lead_id, detail, verdict FROM audit "
                               "WHERE kind = 'originate_unconfirmed'")
    assert sorted(a["call_id"] for a in audit) == sorted(damaged)
    assert all(a["lead_id"] is not None and a["verdict"] == "unconfirmed" for a in audit)
    assert not any(n[-10:] in a["detail"] for a in audit for n in NUMBERS)
    per_number = Counter(a["number"] for a in attempts)
    assert [per_number[n] for n in NUMBERS[:4]] == [1, 1, 1, 1]


async def test_an_answer_split_across_reads_is_read_whole(tmp_path, sim):
    sim.faults.originate_responses = [ResponseFault.SPLIT] * len(NUMBERS)
    config = await _run(tmp_path, sim, unconfirmed=0)
    attempts = await rows(config, "SELECT call_id, number, state, disposition FROM attempts")
    _check_the_simulators_log(tmp_path, attempts)
    assert await rows(config, "SELECT * FROM audit WHERE kind = 'originate_unconfirmed'") == []


async def test_a_refusal_asterisk_gives_in_its_own_words_ends_the_attempt_and_may_be_retried(tmp_path, sim):
    # Context `nosuch`: the simulator answers `Response: Error / Message: Extension does not exist.`
    # like Asterisk (transcript 23) and places nothing, so dialling again is safe.
    config = make_config(tmp_path, sim, campaign={"context": "nosuch"},
                         retry={"failed": {"delay_s": 0, "max_attempts": 2}})
    await import_numbers(tmp_path, config, [number(ANSWERED, 1)])
    await run_until_settled(config, ["c1"])
    attempts = await rows(config, "SELECT call_id, disposition, detail FROM attempts ORDER BY id")
    assert [(a["disposition"], a["detail"]) for a in attempts] == [
        ("failed", "originate refused: Extension does not exist.")] * 2
    assert [(o["action_id"], o["response"]) for o in sim_log(tmp_path)] == [(a["call_id"], "Error") for a in attempts]
    assert sim_log(tmp_path, "end") == []  # no call was placed
    assert await rows(config, "SELECT * FROM audit WHERE kind = 'originate_unconfirmed'") == []
