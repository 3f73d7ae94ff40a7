"""Callee profiles: TOML loading, rule order, the seeded random population, time_scale."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from simkit import RawAmi, run_call, send_originate, wait_idle

from dialer.sim import Outcome, Profile, ProfileError, SimConfig, SimServer, load_profile

PROFILE = """
time_scale = 0.001
seed = 7
read_s = 20

[[rules]]
match = "^1555"
outcome = "busy"

[[rules]]
match = "^1666"
outcome = "answered"
ring_s = 0
talk_s = 0
recording = "omit"

[random]
weights = { answered = 3, busy = 1, no_answer = 1 }
ring_s = { dist = "uniform", low = 1, high = 3 }
talk_s = { dist = "exponential", mean = 20, max = 60 }
recording_omit_fraction = 0.1
recording_truncate_fraction = 0.1
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(text)
    return path


def test_profile_file_is_read(tmp_path: Path) -> None:
    profile = load_profile(_write(tmp_path, PROFILE))
    assert (profile.time_scale, profile.seed, profile.read_s) == (0.001, 7, 20.0)
    rng = random.Random(1)
    assert profile.decide("15550001", rng).outcome is Outcome.BUSY
    plan = profile.decide("16660001", rng)
    assert (plan.outcome, plan.ring_s, plan.talk_s, plan.recording) == (Outcome.ANSWERED, 0.0, 0.0, "omit")
    drawn = [profile.decide("4930123456", rng) for _ in range(300)]
    assert {p.outcome for p in drawn} == {Outcome.ANSWERED, Outcome.BUSY, Outcome.NO_ANSWER}
    assert all(1 <= p.ring_s <= 3 for p in drawn)
    assert all(0 <= p.talk_s <= 60 for p in drawn)
    assert {p.recording for p in drawn} == {"ok", "omit", "truncate"}


def test_random_profile_is_reproducible_with_its_seed(tmp_path: Path) -> None:
    profile = load_profile(_write(tmp_path, PROFILE))
    rng_a, rng_b = random.Random(profile.seed), random.Random(profile.seed)
    first = [profile.decide("123", rng_a) for _ in range(50)]
    again = [profile.decide("123", rng_b) for _ in range(50)]
    assert first == again
    assert len({p.outcome for p in first}) > 1


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[[rules]]\nmatch = '('\noutcome = 'busy'\n", "not a valid regex"),
        ("[[rules]]\nmatch = '1'\noutcome = 'party'\n", "unknown outcome"),
        ("[[rules]]\nmatch = '1'\noutcome = 'busy'\nrecording = 'maybe'\n", "recording must be one of"),
        ("[[rules]]\nmatch = '1'\noutcome = 'busy'\nring_s = -1\n", "ring_s must be"),
        ("[random]\nweights = { answered = 0 }\n", "positive weight"),
        ("[random]\ntalk_s = { dist = 'gauss' }\n", "dist must be"),
        ("time_scale = 'fast'\n", "must be a number"),
        ("surprise = 1\n", "unknown keys"),
        ("this is = not toml [", "not valid TOML"),
    ],
)
def test_bad_profiles_are_refused_with_the_reason(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ProfileError, match=fragment):
        load_profile(_write(tmp_path, text))


async def test_zero_ring_zero_talk_calls_work(sim_config: SimConfig) -> None:
    from dialer.sim import Rule

    sim_config.profile = Profile(rules=(Rule(".*", Outcome.ANSWERED, ring_s=0.0, talk_s=0.0),))
    async with SimServer(sim_config) as sim:
        ami = await RawAmi().connect(sim.port)
        await ami.login()
        msgs = await run_call(sim, ami, "Local/100@callees", "DIALER_CALL_ID=z-1")
        assert next(m for m in msgs if m.event == "OriginateResponse")["Reason"] == "4"
        assert {m["Cause"] for m in msgs if m.event == "Hangup"} == {"16"}
        assert sim.call_ends[-1].hangup_by == "callee"
        await ami.close()


async def test_time_scale_zero_runs_everything_at_once_with_the_same_outcomes(sim_config: SimConfig) -> None:
    sim_config.time_scale = 0.0
    async with SimServer(sim_config) as sim:
        ami = await RawAmi().connect(sim.port)
        await ami.login("dialer", "dialer-secret", Events="off")
        numbers = [f"55501{n:02d}" for n in range(100)]
        for i, number in enumerate(numbers):
            send_originate(ami, f"Local/{number}@callees", f"o-{i}", f"DIALER_CALL_ID={number}")
        await ami.response("o-99")
        await wait_idle(sim)
        outcomes = {e.call_id: e.outcome for e in sim.call_ends}
        expected = {n: Profile().decide(n, random.Random(0)).outcome.value for n in numbers}
        assert outcomes == expected
        await ami.close()


async def test_same_seed_gives_the_same_calls(sim_config: SimConfig, tmp_path: Path) -> None:
    async def once(seed: int) -> list[tuple[str, str]]:
        sim_config.profile = load_profile(_write(tmp_path, PROFILE))
        sim_config.seed = seed
        async with SimServer(sim_config) as sim:
            ami = await RawAmi().connect(sim.port)
            await ami.login("dialer", "dialer-secret", Events="off")
            for i in range(30):
                send_originate(
                    ami, f"Local/49{i:04d}@callees", f"o-{i}", f"DIALER_CALL_ID=s-{i}", Timeout="1000"
                )
            await ami.response("o-29")
            await wait_idle(sim)
            await ami.close()
            return sorted((e.call_id, e.outcome) for e in sim.call_ends)

    assert await once(3) == await once(3)
