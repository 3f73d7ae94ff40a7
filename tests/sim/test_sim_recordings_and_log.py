"""MixMonitor WAV files (duration, omit/truncate faults) and the --log JSON lines."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest
from simkit import RawAmi, run_call, send_originate, wait_idle

from dialer.sim import Outcome, Profile, RandomSpec, Rule, SimConfig, SimServer


def _exists(path: Path) -> bool:
    return path.exists()  # a stat in a test: not worth a thread


async def _settled(sim: SimServer) -> None:
    await wait_idle(sim)
    await sim.pbx.drain_writes()


async def test_wav_is_8khz_mono_16bit_and_lasts_from_answer_to_hangup(sim: SimServer, ami: RawAmi) -> None:
    msgs = await run_call(sim, ami, "Local/10010001@callees", "DIALER_CALL_ID=w-1")
    await _settled(sim)
    path = Path(next(m for m in msgs if m.get("UserEvent") == "DialerAnswered")["Recording"])
    end = sim.call_ends[-1]
    assert end.recording == str(path)
    assert end.talk_s is not None
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        duration = wav.getnframes() / 8000
    # talk 7.7 s at time_scale 0.01: the file holds the simulated call's real length
    assert duration == pytest.approx(end.talk_s, abs=0.002)


async def test_rec_file_variable_is_honoured(sim: SimServer, ami: RawAmi, tmp_path: Path) -> None:
    target = tmp_path / "calls" / "abc.wav"
    msgs = await run_call(
        sim, ami, "Local/10010001@callees", "DIALER_CALL_ID=w-2", f"DIALER_REC_FILE={target}"
    )
    await _settled(sim)
    assert next(m for m in msgs if m.get("UserEvent") == "DialerAnswered")["Recording"] == str(target)
    with wave.open(str(target)) as wav:
        assert wav.getnframes() > 0


async def test_stop_mixmonitor_closes_the_file_early(sim_config: SimConfig) -> None:
    sim_config.profile = Profile(rules=(Rule(".*", Outcome.LONG, ring_s=0.0, talk_s=600.0),), read_s=600.0)
    async with SimServer(sim_config) as sim:
        ami = await RawAmi().connect(sim.port)
        await ami.login()
        send_originate(ami, "Local/100@callees", "o-1", "DIALER_CALL_ID=s-1")
        msgs = await ami.until(lambda m: m.event == "MixMonitorStart")
        one = msgs[-1]["Channel"]
        await ami.action("StopMixMonitor", Channel=one)
        path = Path(sim.pbx.channels[one].vars["MIXMONITOR_FILENAME"])
        await sim.pbx.drain_writes()
        assert _exists(path)
        await ami.action("Hangup", Channel=one)
        await _settled(sim)
        await ami.close()


async def test_the_file_exists_from_mixmonitor_start_with_no_audio_until_it_is_closed(sim_config: SimConfig) -> None:
    sim_config.profile = Profile(rules=(Rule(".*", Outcome.LONG, ring_s=0.0, talk_s=600.0),), read_s=600.0)
    async with SimServer(sim_config) as sim:
        ami = await RawAmi().connect(sim.port)
        await ami.login()
        send_originate(ami, "Local/100@callees", "o-1", "DIALER_CALL_ID=g-1")
        msgs = await ami.until(lambda m: m.event == "MixMonitorStart")
        one = msgs[-1]["Channel"]
        path = Path(sim.pbx.channels[one].vars["MIXMONITOR_FILENAME"])
        with wave.open(str(path)) as wav:  # as Asterisk leaves it until the close: sizes 0
            assert wav.getnframes() == 0
        await ami.action("Hangup", Channel=one)
        await _settled(sim)
        with wave.open(str(path)) as wav:
            assert wav.getnframes() > 0
        await ami.close()


@pytest.mark.parametrize("mode", ["omit", "truncate"])
async def test_recording_faults_by_rule(sim_config: SimConfig, mode: str) -> None:
    sim_config.profile = Profile(
        rules=(Rule(".*", Outcome.ANSWERED, ring_s=0.0, talk_s=50.0, recording=mode),)
    )
    async with SimServer(sim_config) as sim:
        ami = await RawAmi().connect(sim.port)
        await ami.login()
        msgs = await run_call(sim, ami, "Local/100@callees", "DIALER_CALL_ID=f-1")
        await _settled(sim)
        # the events are as usual either way
        path = Path(next(m for m in msgs if m.get("UserEvent") == "DialerAnswered")["Recording"])
        assert any(m.event == "MixMonitorStart" for m in msgs)
        if mode == "omit":
            assert not _exists(path)
        else:
            with wave.open(str(path)) as wav:
                claimed = wav.getnframes()
                data = wav.readframes(claimed)
            assert claimed > 0
            assert len(data) < claimed * 2  # the header promises more audio than the file holds
        assert sim.call_ends[-1].extra["recording_mode"] == mode
        await ami.close()


async def test_random_profile_fractions_pick_faults(sim_config: SimConfig) -> None:
    sim_config.profile = Profile(
        random=RandomSpec(
            weights=((Outcome.ANSWERED, 1.0),), recording_omit_fraction=0.5, recording_truncate_fraction=0.5
        )
    )
    async with SimServer(sim_config) as sim:
        ami = await RawAmi().connect(sim.port)
        await ami.login("dialer", "dialer-secret", Events="off")
        for i in range(20):
            send_originate(ami, f"Local/1{i:03d}@callees", f"o-{i}", f"DIALER_CALL_ID=r-{i}")
        await ami.response("o-19")
        await _settled(sim)
        assert len(sim.call_ends) == 20
        modes = {e.extra["recording_mode"] for e in sim.call_ends}
        assert modes == {"omit", "truncate"}
        await ami.close()


async def test_log_has_one_line_per_originate_and_per_call_end(sim_config: SimConfig, tmp_path: Path) -> None:
    log = tmp_path / "sim.jsonl"
    sim_config.log_path = log
    async with SimServer(sim_config) as sim:
        ami = await RawAmi().connect(sim.port)
        await ami.login()
        await run_call(
            sim, ami, "Local/10010050@callees", "DIALER_CALL_ID=l-1", "DIALER_CAMPAIGN=c", ChannelId="cid-1"
        )
        await ami.action("Originate", Channel="Local/1@callees", Context="nowhere", Exten="s")
        # lines are on disk before the simulator stops
        lines = [json.loads(line) for line in log.read_text().splitlines()]
        await ami.close()
    kinds = [line["kind"] for line in lines]
    assert kinds.count("originate") == 2
    assert kinds.count("end") == 1
    first = lines[0]
    assert first["kind"] == "originate"
    assert set(first) >= {
        "time",
        "action_id",
        "channel",
        "variables",
        "channel_id",
        "async",
        "response",
        "message",
    }
    assert first["variables"] == {"DIALER_CALL_ID": "l-1", "DIALER_CAMPAIGN": "c"}
    assert (first["channel_id"], first["async"], first["response"]) == ("cid-1", True, "Success")
    end = next(line for line in lines if line["kind"] == "end")
    assert (end["call_id"], end["outcome"], end["reason"]) == ("l-1", "busy", 5)
    assert sorted(end["causes"].values()) == [0, 17]
    assert end["action_id"] == first["action_id"]
    error = lines[-1]
    assert (error["response"], error["message"]) == ("Error", "Extension does not exist.")
