"""Recordings fixtures: the simulator with recording faults by number, a config with recordings on."""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from dialer.config import Config
from dialer.sim import Outcome, Profile, Rule, SimConfig, SimServer, SimUser
from tests.e2e.conftest import SECRET, TIME_SCALE, make_config

# Last two digits of a number (see tests.e2e.conftest.number): answered callees whose recording
# the simulator omits or truncates; every other ending behaves as in the default table.
OMIT, TRUNCATE = 40, 45


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimServer]:
    profile = Profile(rules=(
        Rule(r"4[0-4]$", Outcome.ANSWERED, ring_s=1.0, talk_s=7.7, recording="omit"),
        Rule(r"4[5-9]$", Outcome.ANSWERED, ring_s=1.0, talk_s=7.7, recording="truncate"),
    ))
    config = SimConfig(users={"dialer": SimUser(secret=SECRET)}, spool_dir=tmp_path / "spool", profile=profile,
                       time_scale=TIME_SCALE, seed=7, log_path=tmp_path / "sim.jsonl", login_failure_delay_s=0.05)
    async with SimServer(config) as server:
        yield server


def recording_config(tmp_path: Path, sim: SimServer, *, archive: Path | None = None, **recordings: Any) -> Config:
    """make_config with recordings on: the simulator's spool, an archive under tmp_path, short waits."""
    settings: dict[str, Any] = {
        "enabled": True,
        "spool_dir": str(tmp_path / "spool"),
        "archive_dir": str(archive or tmp_path / "archive"),
        "settle_s": 0.05,
        "close_timeout_s": 1.0,
        "retry_interval_s": 0.05,
        **recordings,
    }
    return make_config(tmp_path, sim, extra={"recordings": settings})


def wav_seconds(path: Path) -> float:
    """Length of a WAV file as `wave` reads it back."""
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        return wav.getnframes() / wav.getframerate()
