"""Every disposition end to end: daemon -> AMI over TCP -> simulator -> tracker -> store."""

from __future__ import annotations

import re

from dialer.daemon import run_until_settled
from tests.e2e.conftest import (
    ANSWERED,
    ANSWERED_REJECTED,
    BUSY,
    CHANNEL_FAILURE,
    CONGESTION,
    MACHINE,
    NO_ANSWER,
    OPTOUT,
    REJECTED,
    UNALLOCATED,
    import_numbers,
    make_config,
    number,
    rows,
    sim_log,
)

EXPECTED = {
    number(ANSWERED): "answered",
    number(BUSY): "busy",
    number(NO_ANSWER): "no_answer",
    number(CONGESTION): "congestion",
    number(REJECTED): "rejected",
    number(ANSWERED_REJECTED): "answered",
    number(UNALLOCATED): "invalid_number",
    number(CHANNEL_FAILURE): "failed",
    number(MACHINE): "machine",
    number(OPTOUT): "opted_out",
}


async def test_every_outcome_gets_its_disposition_and_exactly_one_final_row(tmp_path, sim):
    config = make_config(tmp_path, sim, campaign={"amd": True})
    await import_numbers(tmp_path, config, list(EXPECTED))
    await run_until_settled(config, ["c1"])
    attempts = await rows(config, "SELECT number, state, disposition, reason, cause, talk_s FROM attempts")
    assert {a["number"]: a["disposition"] for a in attempts} == EXPECTED
    assert all(a["state"] == "ended" for a in attempts)
    assert len(attempts) == len(EXPECTED)  # no retry rules: one attempt each
    by_number = {a["number"]: a for a in attempts}
    assert by_number[number(BUSY)]["cause"] == 17
    assert by_number[number(ANSWERED)]["talk_s"] > 0


async def test_the_same_outcomes_on_a_single_channel_trunk(tmp_path, sim):
    config = make_config(tmp_path, sim, trunk="PJSIP/{number}@carrier")
    await import_numbers(tmp_path, config, list(EXPECTED))
    await run_until_settled(config, ["c1"])
    attempts = await rows(config, "SELECT number, disposition FROM attempts")
    expected = {**EXPECTED, number(MACHINE): "answered"}  # no AMD in this campaign: a person-like answer
    assert {a["number"]: a["disposition"] for a in attempts} == expected
    assert all(re.fullmatch(r"PJSIP/1415555\d{4}@carrier", o["channel"]) for o in sim_log(tmp_path))


async def test_every_origination_had_an_allow_decision_and_a_committed_attempt(tmp_path, sim):
    config = make_config(tmp_path, sim)
    await import_numbers(tmp_path, config, list(EXPECTED))
    await run_until_settled(config, ["c1"])
    allowed = await rows(config, "SELECT a.call_id FROM attempts a JOIN audit u ON u.id = a.audit_id "
                                 "WHERE u.verdict = 'allow' AND u.kind = 'gate' AND u.call_id = a.call_id")
    originated = sim_log(tmp_path)
    assert {o["action_id"] for o in originated} == {a["call_id"] for a in allowed}
    assert all(o["async"] for o in originated)
    assert all(o["variables"]["DIALER_CALL_ID"] == o["action_id"] == o["channel_id"] for o in originated)


async def test_busy_callee_is_retried_until_the_policy_limit(tmp_path, sim):
    config = make_config(tmp_path, sim, retry={"busy": {"delay_s": 0.05, "max_attempts": 3},
                                               "no_answer": {"delay_s": 0.05, "max_attempts": 2}})
    await import_numbers(tmp_path, config, [number(BUSY), number(NO_ANSWER), number(ANSWERED)])
    await run_until_settled(config, ["c1"])
    leads = {r["number"]: r for r in await rows(config, "SELECT number, status, attempts FROM leads")}
    assert (leads[number(BUSY)]["status"], leads[number(BUSY)]["attempts"]) == ("exhausted", 3)
    assert (leads[number(NO_ANSWER)]["status"], leads[number(NO_ANSWER)]["attempts"]) == ("exhausted", 2)
    assert (leads[number(ANSWERED)]["status"], leads[number(ANSWERED)]["attempts"]) == ("finished", 1)
    dialled = [o["channel"] for o in sim_log(tmp_path)]
    assert sum(number(BUSY)[1:] in c for c in dialled) == 3
