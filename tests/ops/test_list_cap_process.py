"""A PBX that answers CoreShowChannels with a huge list (200,000 made-up channels before the real ones):
the daemon's memory stays bounded (its peak RSS, from the kernel), it raises `ami_list_capped`, and its
reconciliation counts the cut-off answer as "could not check": the calls that are up stay tracked and
end with their real outcome, never `unknown` because they were not in the part that was read."""

from __future__ import annotations

from pathlib import Path

from dialer.sim import actions as sim_actions
from tests.ops.helpers import DaemonProcess, import_leads, query, sim_log, until, write_config

TALK = {"rules": [{"match": ".", "outcome": "answered", "ring_s": 0.2, "talk_s": 20.0, "recording": "omit"}]}
NUMBERS = [f"+1415555020{i}" for i in range(6)]
PADDING = 200_000
CAP = 1000
# Without the cap the 200,000 parsed items alone take well over 200 MB (the issue saw 487 MB for 1 M).
MAX_GROWTH_MB = 64


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


async def test_a_huge_channel_list_is_capped_memory_stays_bounded_and_no_call_is_taken_for_gone(tmp_path, make_sim):
    sim = await make_sim(TALK)
    config = write_config(tmp_path, sim.port, concurrent=10, ami=f"reconnect_initial_s = 0.05\nreconnect_max_s = 0.5\n"
                          f"max_list_items = {CAP}\n")
    # The whole list is read before the next action is answered (as in Asterisk): a generous Pong wait.
    config.write_text(config.read_text().replace("ping_timeout_s = 2.0", "ping_timeout_s = 60.0"))
    await import_leads(config, NUMBERS)
    db = tmp_path / "dialer.db"
    daemon = await DaemonProcess(config).start()
    try:
        await until(lambda: len(query(db, "SELECT 1 FROM attempts WHERE state = 'answered'")) == len(NUMBERS), 60,
                    "every call answered")
        baseline_kb = memory_kb(daemon.pid, "VmRSS")
        sim.faults.channel_list_padding = PADDING
        sim.drop_clients()  # the reconnect's resync asks CoreShowChannels
        await until(lambda: any(a.get("kind") == "ami_list_capped" for a in daemon.events("alert")), 90,
                    "the ami_list_capped alert")
        await until(lambda: not sim_actions._STREAMS, 90, "the simulator finishing the long list")
        sim.faults.channel_list_padding = 0
        dropped = await daemon.wait_for_log("ami_list_dropped", 90)
        assert dropped["dropped_items"] == PADDING + 2 * len(NUMBERS) - CAP  # a Local call has two channels
        peak_kb = memory_kb(daemon.pid, "VmHWM")
        assert (peak_kb - baseline_kb) / 1024 < MAX_GROWTH_MB, (baseline_kb, peak_kb)
        assert not daemon.events("reconciled")  # nothing ended on the strength of a cut-off list
        await until(lambda: not query(db, "SELECT 1 FROM attempts WHERE state <> 'ended'"), 90, "the calls ending")
        assert await daemon.stop() == 0
    finally:
        await daemon.kill()
    dispositions = [r["disposition"] for r in query(db, "SELECT disposition FROM attempts")]
    assert dispositions == ["answered"] * len(NUMBERS)
    assert len(sim_log(tmp_path / "sim.jsonl", "originate")) == len(NUMBERS)
    print(f"daemon RSS {baseline_kb / 1024:.0f} MB before, peak {peak_kb / 1024:.0f} MB with {PADDING:,} list items "
          f"(cap {CAP})")
