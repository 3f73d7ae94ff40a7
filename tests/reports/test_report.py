"""`dialer report`: its figures agree with counts made directly from the attempts table (and the
audit, leads and SMS tables), over a time range too; the HTML report renders in headless Chromium
with every chart drawn and a clean console, on screen and in print."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dialer.cli.compliance_args import iso
from dialer.daemon import run_until_settled
from dialer.outcome import LIVE_ANSWER, Disposition
from dialer.store import Database
from dialer.store import compliance as store
from tests.crm.helpers import config_file, dialer, import_people
from tests.e2e.conftest import ANSWERED, BUSY, CHANNEL_FAILURE, MACHINE, NO_ANSWER, OPTOUT, make_config, number, rows
from tests.reports.chromium import Chromium
from tests.sms.test_sms_end_to_end import GATEWAYS, TEMPLATE

ANSWERED_SET = {d.value for d in (*LIVE_ANSWER, Disposition.MACHINE)}
LIVE = {d.value for d in LIVE_ANSWER}


async def two_batches(tmp_path: Path, sim: Any) -> tuple[Any, Path, float]:
    """Calls in c1 and c2 and texts in s1, in two batches; returns (config, its file, the time between)."""
    c1 = make_config(tmp_path, sim).campaigns["c1"].model_dump(mode="json", exclude_none=True)
    texts = {"kind": "sms", "sms": {"gateway": "pbx", "template": TEMPLATE}}
    config = make_config(tmp_path, sim, retry={"busy": {"delay_s": 0, "max_attempts": 2}},
                         extra={"sms": {"gateways": GATEWAYS}, "campaigns": {"c1": c1, "c2": c1, "s1": texts}})
    first = [(number(o, i), f"First{i} Person", "gold") for i, o in
             enumerate((ANSWERED, ANSWERED, BUSY, NO_ANSWER, MACHINE, OPTOUT, ANSWERED, ANSWERED))]
    await import_people(tmp_path, config, first, "c1")
    await import_people(tmp_path, config, [(number(ANSWERED, 20), "Cy Two", "gold"),
                                           (number(NO_ANSWER, 21), "Di Two", "basic")], "c2")
    await import_people(tmp_path, config, [(number(ANSWERED, 30), "Tex Ting", "gold"),
                                           (number(CHANNEL_FAILURE, 31), "Fay Ling", "gold")], "s1")
    async with Database.open(config.database.path) as db:
        stamp = store.ChangeStamp("test", 0.0, await db.hash_key())
        async with db.write() as tx:
            await store.add_dnc(tx, [store.NewDncEntry(number(ANSWERED, 7), store.DncKind.INTERNAL, None, "x")],
                                stamp)
    await run_until_settled(config, ["c1", "c2", "s1"])
    split = time.time()
    while time.time() <= split:  # the second batch starts strictly after the split
        await asyncio.sleep(0.001)
    await import_people(tmp_path, config, [(number(ANSWERED, 40), "Late One", "gold"),
                                           (number(BUSY, 41), "Late Two", "gold")], "c1")
    await run_until_settled(config, ["c1"])
    return config, config_file(config, tmp_path), split


def local_hour(created_at: float, zones: str | None) -> int:
    zone = (zones or "").split()
    return datetime.fromtimestamp(created_at, ZoneInfo(zone[0]) if zone else UTC).hour


async def direct_counts(config: Any, campaign: str | None, since: float | None = None) -> dict[str, Any]:
    """The report's figures counted straight from the tables, the plain way."""
    attempts = await rows(config, "SELECT a.*, p.zones FROM attempts a LEFT JOIN phone_numbers p "
                                  "ON p.number = a.number")
    attempts = [a for a in attempts if (campaign is None or a["campaign_id"] == campaign)
                and (since is None or a["created_at"] >= since)]
    calls = [a for a in attempts if a["medium"] == "call"]
    ended = [a for a in calls if a["state"] == "ended"]
    talked = [a["talk_s"] for a in calls if a["talk_s"] is not None]
    per_lead = Counter(Counter(a["lead_id"] for a in calls).values())
    hours_calls = Counter(local_hour(a["created_at"], a["zones"]) for a in calls)
    hours_answered = Counter(local_hour(a["created_at"], a["zones"]) for a in calls
                             if a["disposition"] in ANSWERED_SET)
    audit = await rows(config, "SELECT rule, campaign_id, at FROM audit WHERE kind IN ('gate', 'campaign_hold') "
                               "AND verdict = 'block'")
    blocks = Counter(r["rule"] for r in audit if (campaign is None or r["campaign_id"] == campaign)
                     and (since is None or r["at"] >= since))
    texts = [a for a in attempts if a["medium"] == "sms"]
    answered = sum(1 for a in ended if a["disposition"] in ANSWERED_SET)
    return {
        "calls": len(calls),
        "ended": len(ended),
        "by_disposition": dict(Counter(a["disposition"] for a in ended)),
        "unique_numbers": len({a["number"] for a in calls}),
        "numbers_reached": len({a["number"] for a in calls if a["disposition"] in LIVE}),
        "answer_rate": round(answered / len(ended), 4) if ended else None,
        "avg_talk_s": round(sum(talked) / len(talked), 2) if talked else None,
        "gate_blocks": dict(blocks),
        "attempts_per_lead": {str(k): v for k, v in sorted(per_lead.items())},
        "hours": {h: (hours_calls[h], hours_answered[h]) for h in range(24)},
        "sms": (len(texts), sum(1 for t in texts if t["disposition"] == "accepted"),
                sum(1 for t in texts if t["disposition"] == "failed")),
    }


def figures(report: dict[str, Any]) -> dict[str, Any]:
    return {
        **{k: report[k] for k in ("calls", "ended", "by_disposition", "unique_numbers", "numbers_reached",
                                  "answer_rate", "avg_talk_s", "gate_blocks")},
        "attempts_per_lead": report["attempts_per_lead"]["histogram"],
        "hours": {h["hour"]: (h["calls"], h["answered"]) for h in report["answer_by_local_hour"]},
        "sms": (report["sms"]["sent"], report["sms"]["accepted"], report["sms"]["failed"]),
    }


async def test_report_figures_agree_with_counts_made_from_the_tables(tmp_path, sim):
    config, path, split = await two_batches(tmp_path, sim)
    result = dialer("report", "--format", "json", config=path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert figures(report) == await direct_counts(config, None)
    for name in ("c1", "c2", "s1"):
        assert figures(report["by_campaign"][name]) == await direct_counts(config, name), name
    # The keys the report always had, and their meaning.
    assert report["calls"] == sum(report["by_disposition"].values()) + report["open_attempts"]
    assert set(report["leads_by_status"]) <= {"pending", "dialing", "finished", "exhausted", "blocked", "invalid"}
    assert sum(report["leads_by_status"].values()) == (await rows(config, "SELECT COUNT(*) AS n FROM leads"))[0]["n"]
    assert report["gate_blocks"] == {"dnc.internal": 1}
    assert report["sms"]["failures"] == {"Message failed to send.": 1}
    # Abandon rates are the gate's own figures (no abandoned call here, live answers in both windows).
    assert report["abandon_rate_24h"] == 0.0
    assert report["abandon_counts"]["live_24h"] == sum(
        1 for r in await rows(config, "SELECT disposition FROM attempts WHERE medium = 'call'")
        if r["disposition"] in LIVE)
    # A time range: only the second batch.
    ranged = json.loads(dialer("report", "--since", iso(split, "milliseconds"), "--format", "json",
                               config=path).stdout)
    assert figures(ranged) == await direct_counts(config, None, since=split)
    assert ranged["calls"] == len(await rows(config, "SELECT 1 FROM attempts WHERE created_at >= ?", (split,)))
    assert 0 < ranged["calls"] < report["calls"]
    # CSV carries the same figures; the table prints.
    table = list(csv.reader(io.StringIO(dialer("report", "--format", "csv", config=path).stdout)))
    assert table[0] == ["metric", "key", "value", "campaign"]
    assert ["calls", "", str(report["calls"]), ""] in table
    assert ["calls", "", str(report["by_campaign"]["c2"]["calls"]), "c2"] in table
    text = dialer("report", config=path)
    assert text.returncode == 0, text.stderr
    assert "best hours to call" in text.stdout
    assert "c2" in text.stdout


async def test_the_html_report_renders_in_chromium_with_every_chart_drawn(tmp_path, sim):
    _, path, _ = await two_batches(tmp_path, sim)
    page = tmp_path / "report.html"
    result = dialer("report", "--format", "html", "--output", str(page), config=path)
    assert result.returncode == 0, result.stderr
    html = page.read_text()
    assert "<script" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html
    charts_js = """JSON.stringify([...document.querySelectorAll('svg.chart')].map(svg => {
        const box = svg.getBoundingClientRect();
        const marks = [...svg.querySelectorAll('.mark')].map(m => m.getBoundingClientRect())
            .filter(r => r.width > 0 && r.height > 0);
        return {title: svg.querySelector('title').textContent, width: box.width, height: box.height,
                marks: marks.length};
    }))"""
    with Chromium() as browser:
        browser.load(page.as_uri())
        on_screen = json.loads(browser.evaluate(charts_js))
        browser.call("Emulation.setEmulatedMedia", session=True, media="print")
        in_print = json.loads(browser.evaluate(charts_js))
        browser.screenshot(tmp_path / "report.png")
        console = browser.console()
        requests = browser.requests()
    titles = [c["title"] for c in on_screen]
    assert titles == ["Call outcomes", "Answer rate by local hour", "Gate blocks by rule", "Attempts per lead",
                      "Calls per campaign", "Text message outcomes"]
    for chart in on_screen + in_print:
        assert chart["width"] > 100, chart
        assert chart["height"] > 0, chart
        assert chart["marks"] > 0, chart
    assert console == []
    assert requests == [page.as_uri()]  # nothing fetched but the file itself
    assert (tmp_path / "report.png").stat().st_size > 10_000
