"""Survey fixtures: a simulator whose callees answer surveys from a seeded profile, a survey campaign."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from dialer.config import Config
from dialer.daemon import Daemon
from dialer.engine import Engine
from dialer.sim import SimConfig, SimServer, SimUser
from dialer.sim.callees import Profile
from dialer.sim.survey_profile import SurveyProfile
from tests.e2e.conftest import SECRET, TIME_SCALE
from tests.e2e.test_compliance import until

# satisfied: 1 yes -> score, 2 no -> why (tag unhappy, callback); score: 0-8 -> end; why: 1/2 -> end.
SURVEY: dict[str, Any] = {
    "intro": "dialer/intro", "closing": "dialer/thanks",
    "questions": [
        {"name": "satisfied", "prompt": "dialer/q1",
         "keys": {"1": {"meaning": "yes"}, "2": {"meaning": "no", "next": "why", "tag": "unhappy",
                                                  "callback": True}}},
        {"name": "score", "prompt": "dialer/q2", "range": {"min": 0, "max": 8}, "next": "end"},
        {"name": "why", "prompt": "dialer/q3", "keys": {"1": {"meaning": "price"}, "3": {"meaning": "service"}}},
    ],
}
SURVEY_CAMPAIGN: dict[str, Any] = {"mode": "survey", "survey": SURVEY, "callbacks": {"delay_s": 3600}}
# The same survey without the callback (a pending callback keeps its lead open: run_until_settled
# would wait for it).
NO_CALLBACK = copy.deepcopy(SURVEY)
NO_CALLBACK["questions"][0]["keys"]["2"]["callback"] = False
PLAIN_CAMPAIGN: dict[str, Any] = {"mode": "survey", "survey": NO_CALLBACK}

# Callees press a key the question does not accept now and then (the prompt is played again), stay
# silent, or hang up mid-survey.
PROFILE = SurveyProfile(keys={"satisfied": (("1", 0.5), ("2", 0.4), ("7", 0.1))}, hangup=0.15, timeout=0.15)


# Callees who answer every question, 2.5 s after its prompt starts: the first answer comes 3.5 s after
# the call is answered (intro 1 s), so the opt-out callee's 9 (5.4 s) falls in the second question.
STEADY = SurveyProfile(answer_s=2.5)


def _sim_config(tmp_path: Path, survey: SurveyProfile) -> SimConfig:
    return SimConfig(users={"dialer": SimUser(secret=SECRET)}, spool_dir=tmp_path / "spool", time_scale=TIME_SCALE,
                     seed=7, log_path=tmp_path / "sim.jsonl", login_failure_delay_s=0.05,
                     profile=Profile(seed=11, survey=survey))


@pytest.fixture
async def survey_sim(tmp_path: Path) -> AsyncIterator[SimServer]:
    async with SimServer(_sim_config(tmp_path, PROFILE)) as server:
        yield server


@pytest.fixture
async def steady_sim(tmp_path: Path) -> AsyncIterator[SimServer]:
    async with SimServer(_sim_config(tmp_path, STEADY)) as server:
        yield server


async def run_until_dialled(config: Config, calls: int) -> None:
    """Run the daemon until `calls` attempts have ended and none is live (callbacks stay pending)."""
    engines: list[Engine] = []
    daemon = Daemon(config, install_signals=False, on_engine=engines.append)
    runner = asyncio.create_task(daemon.run())

    async def dialled() -> bool:
        if runner.done():
            return True
        if not engines:
            return False
        async with engines[0].db.read() as tx:
            row = await tx.fetchone("SELECT SUM(state = 'ended'), SUM(state <> 'ended') FROM attempts")
        return row is not None and (row[0] or 0) >= calls and not row[1]

    try:
        await until(dialled, 120)
        daemon.stop()
        assert await runner == 0
    finally:
        if not runner.done():
            daemon.stop()
            with contextlib.suppress(Exception):
                await runner
