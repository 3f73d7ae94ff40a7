"""A survey campaign end to end: daemon -> AMI over TCP -> simulator ([dialer-survey], seeded callees)
-> tracker user-event hook -> survey_answers; opt-out mid-survey; follow-ups."""

from __future__ import annotations

from dialer.daemon import run_until_settled
from tests.e2e.conftest import ANSWERED, OPTOUT, import_numbers, make_config, number, rows
from tests.surveys.conftest import PLAIN_CAMPAIGN, SURVEY_CAMPAIGN, run_until_dialled

PEOPLE = [number(ANSWERED, i) for i in range(24)]


async def test_every_answer_a_callee_gave_is_stored_once_and_partial_surveys_are_kept(tmp_path, survey_sim):
    config = make_config(tmp_path, survey_sim, campaign=PLAIN_CAMPAIGN)
    await import_numbers(tmp_path, config, PEOPLE)
    await run_until_settled(config, ["c1"])
    given = survey_sim.pbx.survey_answers
    stored = await rows(config, "SELECT call_id, question, keys, status, meaning, leads_to FROM survey_answers")
    assert sorted((r["call_id"], r["question"], r["keys"], r["status"]) for r in stored) == sorted(given)
    assert len(given) == len(set(given))  # (and the table's key makes a second copy impossible)
    meaning = {(r["question"], r["keys"]): r["meaning"] for r in stored if r["status"] == "answered"}
    assert meaning[("satisfied", "1")] == "yes"
    assert meaning[("satisfied", "2")] == "no"
    by_call: dict[str, list[dict[str, str]]] = {}
    for r in stored:
        by_call.setdefault(r["call_id"], []).append(r)
    complete = {c for c, answers in by_call.items()
                if any(a["status"] == "answered" and a["leads_to"] in ("end", "queue") for a in answers)}
    partial = set(by_call) - complete
    assert complete  # the seeded profile gives both: kept alike
    assert partial
    assert any(any(a["status"] == "answered" for a in by_call[c]) for c in partial)  # hung up after answering
    assert {r["status"] for r in stored} == {"answered", "no_answer"}  # silent callees ran out of tries
    calls = await rows(config, "SELECT call_id, lead_id, attempt_id FROM survey_answers s "
                               "WHERE NOT EXISTS (SELECT 1 FROM attempts a WHERE a.call_id = s.call_id "
                               "AND a.id = s.attempt_id AND a.lead_id = s.lead_id)")
    assert calls == []


async def test_a_no_answer_tags_the_contact_and_schedules_a_callback_through_the_lead(tmp_path, survey_sim):
    config = make_config(tmp_path, survey_sim, campaign=SURVEY_CAMPAIGN)
    await import_numbers(tmp_path, config, PEOPLE)
    await run_until_dialled(config, len(PEOPLE))
    said_no = await rows(config, "SELECT s.lead_id, a.number FROM survey_answers s JOIN attempts a "
                                 "ON a.call_id = s.call_id WHERE s.question = 'satisfied' AND s.meaning = 'no'")
    assert said_no
    tagged = await rows(config, "SELECT p.number FROM contact_tags t JOIN phone_numbers p "
                                "ON p.contact_id = t.contact_id WHERE t.tag = 'unhappy'")
    assert sorted(r["number"] for r in tagged) == sorted(r["number"] for r in said_no)
    callbacks = await rows(config, "SELECT lead_id, source, status FROM callbacks")
    assert sorted(c["lead_id"] for c in callbacks) == sorted(r["lead_id"] for r in said_no)
    assert all(c["status"] == "pending" for c in callbacks)
    ids = ",".join(str(r["lead_id"]) for r in said_no)
    leads = await rows(config, f"SELECT id, status, next_attempt_at FROM leads WHERE id IN ({ids})")
    assert all(lead["status"] == "pending" and lead["next_attempt_at"] > 0 for lead in leads)


async def test_the_optout_key_mid_survey_puts_the_number_on_dnc_before_the_next_claim(tmp_path, steady_sim):
    config = make_config(tmp_path, steady_sim, campaign=PLAIN_CAMPAIGN)
    config = config.model_copy(update={"campaigns": {**config.campaigns, "c2": config.campaigns["c1"]}})
    person = number(OPTOUT)  # presses 9 5.4 s after answer: during the survey's second question
    await import_numbers(tmp_path, config, [person, *PEOPLE[:3]], "c1")
    await import_numbers(tmp_path, config, [person], "c2")  # the same person queued in another campaign
    await run_until_settled(config, ["c1", "c2"])
    attempts = await rows(config, "SELECT call_id, disposition FROM attempts WHERE number = ?", (person,))
    assert [a["disposition"] for a in attempts] == ["opted_out"]  # called once, never again
    answers = await rows(config, "SELECT question FROM survey_answers WHERE call_id = ?", (attempts[0]["call_id"],))
    assert [a["question"] for a in answers] == ["satisfied"]  # the answer given before opting out is kept
    entries = await rows(config, "SELECT list, campaign_id FROM dnc_entries WHERE number = ?", (person,))
    assert [(e["list"], e["campaign_id"]) for e in entries] == [("optout", None)]
    blocked = await rows(config, "SELECT verdict FROM audit WHERE rule = 'dnc.optout' AND kind = 'gate'")
    assert [b["verdict"] for b in blocked] == ["block"]
