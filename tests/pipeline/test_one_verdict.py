"""`dialer check`, `dialer scrub` and the running daemon judge with one function (dialer.pipeline.judging):
for the same lead they give the same verdict, for a call campaign and an SMS campaign alike.

Real parts: the simulator over TCP, a real SQLite file, the daemon in-process; check and scrub are the
commands' own functions, run on the same database before the daemon sends anything.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from dialer.cli.check import _check, _scrub
from dialer.config import Config
from dialer.daemon import run_until_settled
from dialer.store import compliance as store
from tests.e2e.conftest import ANSWERED, PIPELINE_POLICY, import_numbers, init_database, number, rows
from tests.e2e.test_compliance import put_on_dnc, running, seed_abandons, until
from tests.sms.test_sms_end_to_end import import_people, sent_bodies, sms_config

FRESH, DNC, CAPPED, CALLED = number(ANSWERED, 1), number(ANSWERED, 2), number(ANSWERED, 3), number(ANSWERED, 4)
HELD = [number(ANSWERED, 5), number(ANSWERED, 6)]  # leads of c2 only


def config_for(tmp_path: Path, sim: Any) -> Config:
    """c1 calls; s1 texts (and has no caller ID); c2 calls, over its abandon-rate limit; warm and swarm
    give CAPPED its earlier call and text. One attempt a day per medium."""
    base = sms_config(tmp_path, sim)
    c1 = base.campaigns["c1"].model_dump(mode="json", exclude_none=True)
    s1 = base.campaigns["s1"].model_dump(mode="json", exclude_none=True)
    campaigns = {"c1": c1, "warm": c1, "c2": c1, "swarm": s1}
    return sms_config(tmp_path, sim, sms={"max_per_24h": 1}, campaigns=campaigns) \
        .model_copy(update={"compliance": base.compliance.model_copy(update={"max_attempts_per_24h": 1})})


async def check_verdict(config: Config, campaign: str, e164: str) -> str:
    """The deciding rule `dialer check NUMBER --campaign CAMPAIGN` prints ("allow" when allowed)."""
    decision = await _check(config, e164, campaign, "US", time.time())
    return decision.rule


async def scrub_counts(config: Config, campaign: str) -> Counter[str]:
    """`dialer scrub CAMPAIGN`'s counts per deciding rule."""
    tally, _ = await _scrub(config, campaign, time.time(), False)
    return Counter(tally.by_rule)


async def daemon_verdicts(config: Config, campaign: str) -> dict[str, str]:
    """Per number of `campaign`: the rule the daemon decided by (its gate audit row, "allow" for an
    attempt, or the rule of the campaign's hold for a lead it left queued)."""
    gate = await rows(config, "SELECT l.number, a.rule FROM audit a JOIN leads l ON l.id = a.lead_id "
                              "WHERE a.kind = 'gate' AND a.campaign_id = ?", (campaign,))
    holds = await rows(config, "SELECT rule FROM audit WHERE kind = 'campaign_hold' AND campaign_id = ?", (campaign,))
    leads = await rows(config, "SELECT number, status FROM leads WHERE campaign_id = ?", (campaign,))
    verdicts = {r["number"]: r["rule"] for r in gate}
    for lead in leads:
        if lead["number"] not in verdicts and lead["status"] == "pending" and holds:
            verdicts[lead["number"]] = holds[-1]["rule"]
    return verdicts


async def test_check_scrub_and_the_daemon_give_one_verdict_per_lead_for_calls_and_texts(tmp_path, sim):
    config = config_for(tmp_path, sim)
    await init_database(config)
    # CAPPED has had its call and its text today; CALLED has had only a call.
    await import_numbers(tmp_path, config, [CAPPED, CALLED], "warm")
    await import_people(tmp_path, config, [(CAPPED, "Cy Po", "gold")], "swarm")
    await run_until_settled(config, ["warm", "swarm"])
    assert {CAPPED} <= set(sent_bodies(sim))
    await put_on_dnc(config, store.NewDncEntry(DNC, store.DncKind.INTERNAL, None, "complaint"))
    people = [(n, "Ann Lee", "gold") for n in (FRESH, DNC, CAPPED, CALLED)]
    await import_numbers(tmp_path, config, [FRESH, DNC, CAPPED, CALLED], "c1")
    await import_people(tmp_path, config, people, "s1")
    await import_numbers(tmp_path, config, HELD, "c2")
    await seed_abandons(config, tmp_path, abandoned=1, answered=9, campaign="c2")  # 10% over a 3% limit

    expected = {
        "c1": {FRESH: "allow", DNC: "dnc.internal", CAPPED: "frequency.daily", CALLED: "frequency.daily"},
        # Texts are capped apart from calls, and a text has no caller ID to check.
        "s1": {FRESH: "allow", DNC: "dnc.internal", CAPPED: "frequency.gap", CALLED: "allow"},  # sms.min_gap_s
        # A campaign-wide block: the daemon holds the campaign, check and scrub name it for each lead.
        "c2": dict.fromkeys(HELD, "abandon_rate"),
    }
    checked = {c: {n: await check_verdict(config, c, n) for n in leads} for c, leads in expected.items()}
    assert checked == expected
    for campaign, verdicts in expected.items():
        assert await scrub_counts(config, campaign) == Counter(verdicts.values()), campaign

    async with running(config):
        async def judged() -> bool:
            return all([len(await daemon_verdicts(config, c)) == len(v) for c, v in expected.items()])
        await until(judged)
    for campaign, verdicts in expected.items():
        assert await daemon_verdicts(config, campaign) == verdicts, campaign
    # The daemon sent what it allowed: one call to FRESH (c1), texts to FRESH and CALLED (s1), none in c2.
    attempts = await rows(config, "SELECT a.number, a.medium FROM attempts a JOIN leads l ON l.id = a.lead_id "
                                  "WHERE l.campaign_id IN ('c1', 's1') OR a.number IN (?, ?)", tuple(HELD))
    assert sorted((a["number"], a["medium"]) for a in attempts) == sorted(
        [(FRESH, "call"), (FRESH, "sms"), (CALLED, "sms")])
    assert PIPELINE_POLICY["max_attempts_per_24h"] != 1  # the cap above is this test's own
