"""SIGHUP to a running `dialer run`: new pacing and log level at once, live calls untouched; a broken
config is rejected with its errors logged and the daemon dials on with the one it had."""

from __future__ import annotations

import signal

from tests.ops.helpers import DaemonProcess, import_leads, query, sim_log, until, write_config

# Every callee answers at once and talks for 1 s: the number of calls up at a time is the
# concurrency limit, which the simulator sees directly.
C2 = """
[campaigns.c2]
trunk = "sim"
caller_id = '"Ops" <+14155550100>'
context = "dialer"
priority_weight = 1
[campaigns.c2.pacing]
max_concurrent_calls = 2
max_originations_per_s = 50
"""
TALKING = {"rules": [{"match": ".", "outcome": "answered", "ring_s": 0.0, "talk_s": 1.0, "recording": "omit"}]}


async def test_reload_changes_pacing_and_log_level_and_a_broken_config_is_rejected(tmp_path, make_sim):
    sim = await make_sim(TALKING)
    config = write_config(tmp_path, sim.port, concurrent=2, rate=50)
    await import_leads(config, [f"+1212555{i:04d}" for i in range(60)])
    daemon = await DaemonProcess(config).start()
    log_path = tmp_path / "sim.jsonl"
    try:
        await until(lambda: len(sim_log(log_path, "originate")) >= 4, 60, "four originations at concurrency 2")
        assert sim.max_live_calls == 2

        # Raise the limit and quieten the log; the calls up now must finish as if nothing happened.
        live_at_reload = {r["action_id"] for r in sim_log(log_path, "originate")} - {
            r["call_id"] for r in sim_log(log_path, "end")}
        assert live_at_reload
        # ... and add a campaign (its leads imported with the new file, before the reload).
        write_config(tmp_path, sim.port, concurrent=6, rate=50, level="warning", extra=C2)
        await import_leads(config, [f"+1312555{i:04d}" for i in range(4)], campaign="c2")
        daemon.signal(signal.SIGHUP)
        reloaded = await daemon.wait_for_log("reloaded")
        assert reloaded["campaigns"] == ["c1", "c2"]
        await until(lambda: any(r["variables"].get("DIALER_CAMPAIGN") == "c2" for r in sim_log(log_path, "originate")),
                    30, "the new campaign dialing")
        await until(lambda: sim.live_call_count >= 5, 30, "more calls up after the reload")
        assert sim.max_live_calls <= 6
        originated_before = len(sim_log(log_path, "originate"))
        await until(lambda: len(sim_log(log_path, "originate")) >= originated_before + 6, 30, "dialing on")
        lines = daemon.lines()
        after = lines[max(i for i, line in enumerate(lines) if line.get("event") == "reloaded") + 1:]
        assert not [line for line in after if line.get("level") == "info"], "info lines after the switch to warning"

        # A broken file: rejected, errors named, the running config kept, dialing goes on.
        config.write_text(config.read_text().replace("max_concurrent_calls = 6", "max_concurrent_calls = 0", 1))
        daemon.signal(signal.SIGHUP)
        rejected = await daemon.wait_for_log("reload_rejected")
        assert any("dialing.pacing.max_concurrent_calls" in problem for problem in rejected["problems"])
        originated_before = len(sim_log(log_path, "originate"))
        await until(lambda: len(sim_log(log_path, "originate")) >= originated_before + 6, 30, "dialing on")
        await until(lambda: sim.live_call_count >= 5, 30, "still at the reloaded limit")

        config.write_text("this is [not toml")
        daemon.signal(signal.SIGHUP)
        await daemon.wait_for_log("reload_rejected", count=2)
        originated_before = len(sim_log(log_path, "originate"))
        await until(lambda: len(sim_log(log_path, "originate")) >= originated_before + 3, 30, "dialing on")
        assert await daemon.stop() == 0
    finally:
        await daemon.kill()
    attempts = query(tmp_path / "dialer.db", "SELECT call_id, state, disposition, talk_s FROM attempts")
    by_id = {a["call_id"]: a for a in attempts}
    assert all(a["state"] == "ended" for a in attempts)
    # The calls that were up during the reload were answered and talked to their end.
    for call_id in live_at_reload:
        assert by_id[call_id]["disposition"] == "answered"
        assert by_id[call_id]["talk_s"] is not None
        assert by_id[call_id]["talk_s"] > 0.8
    assert sim.max_live_calls <= 6
