"""The wallboard in headless Chromium against `dialer run` on a simulator campaign: the figures
change as calls happen, a `dialer campaign pause` shows, the page equals `dialer report --format
json` for the same ranges, the screenshot is not blank, and a stopped daemon shows the stale banner."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from pathlib import Path
from typing import Any

from tests.e2e.test_compliance import until
from tests.ops.helpers import DaemonProcess, import_leads, run_cli, write_config
from tests.reports.chromium import Chromium
from tests.web.png import colour_share

TOKEN = "wallboard-test-token-7f3a"
PROFILE = {"rules": [
    {"match": "0$", "outcome": "busy"},
    {"match": ".", "outcome": "answered", "ring_s": 0.3, "talk_s": 1.5, "recording": "omit"},
]}


def free_port() -> int:
    """A port free now: the page must find the restarted daemon where it left it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Every figure of one campaign card, unformatted (data-value), plus the page's ranges.
CARD_JS = """JSON.stringify((() => {
  const card = document.querySelector('[data-campaign="c1"]');
  const out = {stale: document.body.dataset.stale, since: JSON.parse(document.body.dataset.since || "{}"),
               banner: !document.getElementById('stale').hidden,
               marks: document.querySelectorAll('svg .mark').length};
  if (!card) return out;
  card.querySelectorAll('[data-field]').forEach(node => {
    if (node.dataset.value !== undefined) out[node.dataset.field] = JSON.parse(node.dataset.value);
  });
  return out;
})())"""


async def page(browser: Chromium) -> dict[str, Any]:
    """What the page shows now (the browser is driven from a thread: the simulator runs on this loop)."""
    return json.loads(await asyncio.to_thread(browser.evaluate, CARD_JS))


async def page_until(browser: Chromium, check: Any, what: str, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until the page's figures satisfy `check`."""
    shown: dict[str, Any] = {}

    async def shows() -> bool:
        nonlocal shown
        shown = await page(browser)
        return bool(check(shown))

    try:
        await until(shows, timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for the page to show {what}: {shown}") from None
    return shown


async def report(config: Path, since: str) -> dict[str, Any]:
    code, out, err = await run_cli("report", "--format", "json", "--since", since, "--config", str(config))
    assert code == 0, err
    return json.loads(out)


async def reported(config: Path, since: dict[str, str]) -> dict[str, Any]:
    """The page's figures as `dialer report --format json` gives them for the page's ranges."""
    today, day, month, hour = [await report(config, since[key]) for key in ("today", "24h", "30d", "1h")]
    c1 = today["by_campaign"]["c1"]
    leads = c1["leads_by_status"]
    return {
        "state": today["campaigns"]["c1"],
        "calls_today": c1["calls"],
        "answer_rate.today": c1["answer_rate"],
        "answer_rate.24h": day["by_campaign"]["c1"]["answer_rate"],
        "answer_rate.30d": month["by_campaign"]["c1"]["answer_rate"],
        "abandon_rate.today": c1["abandon_rate"],
        "abandon_rate.24h": c1["abandon_rate_24h"],
        "abandon_rate.30d": c1["abandon_rate_30d"],
        "leads_left": leads.get("pending", 0) + leads.get("dialing", 0),
        "gate_blocks_1h": hour["by_campaign"]["c1"]["gate_blocks"],
    }


async def test_the_wallboard_follows_calls_a_pause_and_a_stopped_daemon_in_chromium(tmp_path, make_sim):
    sim = await make_sim(PROFILE)
    web = f"[web]\nenabled = true\nport = {free_port()}\n"
    config = write_config(tmp_path, sim.port, concurrent=2, rate=2, extra=web,
                          compliance='allowed_countries = ["US"]')
    code, _, err = await run_cli("init", "--config", str(config))
    assert code == 0, err
    # 40 callees in the US (every tenth busy) and one in Canada, whom the gate blocks (number.country).
    await import_leads(config, [f"+1415555{i:04d}" for i in range(40)] + ["+16045550123"])
    daemon = await DaemonProcess(config, env={"DIALER_WEB_TOKEN": TOKEN}).start()
    try:
        port = (await daemon.wait_for_log("web_listening"))["port"]
        with Chromium() as browser:
            await asyncio.to_thread(browser.load, f"http://127.0.0.1:{port}/?token={TOKEN}")
            assert await asyncio.to_thread(browser.evaluate, "location.pathname + location.search") == "/"
            first = await page_until(browser, lambda p: p.get("calls_today", 0) >= 1 and p["stale"] == "0",
                                     "a first call")
            busy = await page_until(browser, lambda p: p.get("live", 0) >= 1, "a live call")
            assert busy["ringing"] + busy["answered"] == busy["live"]
            later = await page_until(browser, lambda p: p["calls_today"] >= first["calls_today"] + 3,
                                     "more calls as they happen")
            assert later["leads_left"] < first["leads_left"]
            assert later["originations_per_s"] > 0
            await page_until(browser, lambda p: p["gate_blocks_1h"] == {"number.country": 1}, "the gate block")

            code, _, err = await run_cli("campaign", "pause", "c1", "--config", str(config))
            assert code == 0, err
            paused = await page_until(browser, lambda p: p["state"] == "paused", "the pause", timeout=10)
            assert paused["leads_left"] > 0  # paused mid-list
            await page_until(browser, lambda p: p["live"] == 0, "the live calls ending after the pause")

            # Paused and quiet: the figures hold still, so the page and the report can be taken together.
            mine: dict[str, Any] = {}
            expected: dict[str, Any] = {}
            shown: dict[str, Any] = {}

            async def page_equals_report() -> bool:
                nonlocal mine, expected, shown
                shown = await page(browser)
                expected = await reported(config, shown["since"])
                mine = {key: shown.get(key) for key in expected}
                return mine == expected

            with contextlib.suppress(TimeoutError):
                await until(page_equals_report, 30)
            assert mine == expected
            assert expected["answer_rate.today"] is not None
            assert 0 < expected["answer_rate.today"] < 1

            console = [line for line in browser.console() if "error" in line.lower()]
            assert not console, console  # CSP refusals and script errors show here
            assert all(url.startswith(f"http://127.0.0.1:{port}/") for url in browser.requests())
            shot = tmp_path / "wallboard.png"
            await asyncio.to_thread(browser.screenshot, shot)
            colours, top = colour_share(shot)
            assert colours > 20, colours
            assert top < 0.9, top
            assert shown["marks"] >= 2  # the sparkline and the abandon bars are drawn

            assert await daemon.stop() == 0
            stale = await page_until(browser, lambda p: p["banner"] and p["stale"] == "1", "the stale banner",
                                     timeout=20)
            assert stale["state"] == "paused"  # the last figures stay on screen under the banner

            # The page reconnects by itself to the restarted daemon (EventSource), and the banner goes.
            daemon = await DaemonProcess(config, env={"DIALER_WEB_TOKEN": TOKEN}, log_name="daemon2.log").start()
            back = await page_until(browser, lambda p: not p["banner"] and p["stale"] == "0", "the reconnect",
                                    timeout=30)
            assert back["state"] == "paused"
            assert back["calls_today"] == expected["calls_today"]
    finally:
        await daemon.kill()
