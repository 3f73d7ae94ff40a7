"""Prometheus metrics from a running `dialer run`, checked against its database."""

from __future__ import annotations

import asyncio
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.ops.helpers import DaemonProcess, import_leads, query, run_cli, until, write_config

MISSING = "+14155550001"  # answered, but the simulator writes no recording for it
PROFILE = {"rules": [
    {"match": "0$", "outcome": "busy"},
    {"match": "0001$", "outcome": "answered", "ring_s": 0.2, "talk_s": 0.3, "recording": "omit"},
    {"match": ".", "outcome": "answered", "ring_s": 0.2, "talk_s": 0.3},
]}
METRICS_ON = """
[metrics]
enabled = true
address = "127.0.0.1"
port = 0
"""


def recordings_on(tmp_path) -> str:
    """Recordings collected from the simulator's spool; a file that never appears is missing after 1 s."""
    return f"""
[recordings]
enabled = true
spool_dir = "{tmp_path / 'spool'}"
archive_dir = "archive"
settle_s = 0.2
close_timeout_s = 1.0
"""


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    assert "+1415" not in text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_metrics_count_calls_gate_blocks_answers_and_reconnects(tmp_path, make_sim):
    sim = await make_sim(PROFILE)
    config = write_config(tmp_path, sim.port, concurrent=5, rate=50, extra=METRICS_ON + recordings_on(tmp_path),
                          compliance='allowed_countries = ["US"]')
    db = tmp_path / "dialer.db"
    assert (await run_cli("init", "--config", str(config)))[0] == 0
    daemon = await DaemonProcess(config).start()
    try:
        port = (await daemon.wait_for_log("metrics_listening"))["port"]
        assert (await daemon.wait_for_log("metrics_listening"))["address"] == "127.0.0.1"
        # No call yet, so no recording can be missing: the value before.
        assert (await asyncio.to_thread(scrape, port))[("dialer_recordings_missing", ())] == 0
        await import_leads(config, [f"+1415555{i:04d}" for i in range(12)] + ["+16045550123"])  # one in Canada

        def settled() -> bool:
            return not query(db, "SELECT 1 FROM attempts WHERE state <> 'ended'") and not query(
                db, "SELECT 1 FROM leads WHERE status = 'dialing' OR (status = 'pending' AND next_attempt_at <= ?)",
                (time.time(),))

        await until(settled, 60, "every due lead dialled")
        calls = {r["disposition"]: r["n"] for r in query(
            db, "SELECT disposition, COUNT(*) AS n FROM attempts GROUP BY disposition")}
        assert calls == {"answered": 10, "busy": 2}
        metrics: dict = {}

        async def look() -> dict:
            return await asyncio.to_thread(scrape, port)

        async def wait_metric(key: tuple, value: float) -> None:
            deadline = time.monotonic() + 30
            while True:
                metrics.update(await look())
                if metrics.get(key) == value or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            assert metrics.get(key) == value, (key, metrics.get(key))

        await wait_metric(("dialer_gate_blocks_total", (("rule", "number.country"),)), 1.0)
        assert metrics[("dialer_calls_total", (("campaign", "c1"), ("disposition", "answered")))] == 10
        assert metrics[("dialer_calls_total", (("campaign", "c1"), ("disposition", "busy")))] == 2
        assert metrics[("dialer_originations_total", (("campaign", "c1"),))] == 12
        assert metrics[("dialer_originate_to_answer_seconds_count", ())] == 10
        assert metrics[("dialer_originate_to_answer_seconds_bucket", (("le", "0.5"),))] == 10
        await wait_metric(("dialer_live_calls", (("campaign", "c1"),)), 0.0)
        assert metrics[("dialer_ami_connected", ())] == 1
        assert metrics[("dialer_outbox_backlog", ())] == 0
        # The one call whose recording never appeared; the nine others were archived.
        await wait_metric(("dialer_recordings_missing", ()), 1.0)
        assert query(db, "SELECT a.number FROM recordings r JOIN attempts a ON a.call_id = r.call_id "
                         "WHERE r.status = 'missing'") == [{"number": MISSING}]
        assert metrics[("dialer_ami_reconnects_total", ())] == 0
        assert ("process_resident_memory_bytes", ()) in metrics

        sim.drop_clients()
        await wait_metric(("dialer_ami_reconnects_total", ()), 1.0)
        await wait_metric(("dialer_ami_connected", ()), 1.0)
        assert metrics[("dialer_alerts_total", (("kind", "ami_down"),))] == 1
        assert await daemon.stop() == 0
    finally:
        await daemon.kill()
