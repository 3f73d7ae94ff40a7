"""The survey commands on a database a survey campaign filled over TCP: export (CSV, JSON), report
(table, JSON, CSV, HTML; its counts redone in SQL), contact show, select (targeting), forget."""

from __future__ import annotations

import copy
import csv
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

from dialer.config import Config
from dialer.csv_safe import neutralise
from dialer.daemon import run_until_settled
from tests.crm.helpers import config_file, dialer
from tests.e2e.conftest import ANSWERED, import_numbers, make_config, number, rows
from tests.surveys.conftest import PLAIN_CAMPAIGN

PEOPLE = [number(ANSWERED, i) for i in range(20)]


def campaign_with_formula_meaning() -> dict[str, Any]:
    """The plain survey, with a meaning a spreadsheet would run as a formula."""
    campaign = copy.deepcopy(PLAIN_CAMPAIGN)
    campaign["survey"]["questions"][2]["keys"]["3"]["meaning"] = "=service"
    return campaign


async def surveyed(tmp_path: Path, sim: Any) -> tuple[Config, Path]:
    config = make_config(tmp_path, sim, campaign=campaign_with_formula_meaning())
    follow_up = config.campaigns["c1"].model_copy(update={"mode": "message", "survey": None})
    config = config.model_copy(update={"campaigns": {**config.campaigns, "c2": follow_up}})
    await import_numbers(tmp_path, config, PEOPLE)
    await run_until_settled(config, ["c1"])
    return config, config_file(config, tmp_path)


async def test_export_gives_one_row_per_survey_with_each_answer_and_neutralised_cells(tmp_path, survey_sim):
    config, path = await surveyed(tmp_path, survey_sim)
    stored = await rows(config, "SELECT s.call_id, s.question, s.keys, s.meaning, s.status, s.leads_to, a.number "
                                "FROM survey_answers s JOIN attempts a ON a.call_id = s.call_id")
    result = dialer("survey", "export", "c1", "--format", "csv", config=path)
    assert result.returncode == 0, result.stderr
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(table) == len({r["call_id"] for r in stored})
    assert list(table[0])[:6] == ["call_id", "campaign", "number", "started_at", "status", "answers"]
    by_call = {r["call_id"]: r for r in table}
    for r in stored:
        line = by_call[r["call_id"]]
        assert line["number"] == neutralise(r["number"])  # '+1...: as every export writes numbers
        assert line[f"{r['question']}.keys"] == neutralise(r["keys"])
        assert line[r["question"]] == neutralise(r["meaning"])
    assert any(line.get("why") == "'=service" for line in table)  # a formula is not run by a spreadsheet
    complete = {r["call_id"] for r in stored if r["status"] == "answered" and r["leads_to"] in ("end", "queue")}
    assert {c for c, line in by_call.items() if line["status"] == "complete"} == complete
    assert any(line["status"] == "partial" for line in table)
    exported = json.loads(dialer("survey", "export", "c1", "--format", "json", config=path).stdout)
    assert sorted((s["call_id"], a["question"], a["keys"]) for s in exported for a in s["answers"]) == sorted(
        (r["call_id"], r["question"], r["keys"]) for r in stored)
    unknown = dialer("survey", "export", "nope", config=path)
    assert unknown.returncode == 2
    assert unknown.stderr.count("\n") == 1
    assert "Traceback" not in unknown.stderr


async def test_the_report_counts_per_question_what_sql_counts_in_every_format(tmp_path, survey_sim):
    config, path = await surveyed(tmp_path, survey_sim)
    data = json.loads(dialer("report", "--format", "json", config=path).stdout)
    survey = data["surveys"]["c1"]
    stored = await rows(config, "SELECT question, meaning, status, COUNT(*) AS n FROM survey_answers "
                                "GROUP BY question, meaning, status")
    for q in survey["questions"]:
        expected = {r["meaning"]: r["n"] for r in stored
                    if r["question"] == q["question"] and r["status"] == "answered"}
        assert q["distribution"] == expected
    [complete] = await rows(config, "SELECT COUNT(DISTINCT call_id) AS n FROM survey_answers "
                                    "WHERE status = 'answered' AND leads_to IN ('end', 'queue')")
    [answered] = await rows(config, "SELECT COUNT(*) AS n FROM attempts WHERE answered_at IS NOT NULL")
    assert survey["complete"] == complete["n"]
    assert survey["calls_answered"] == answered["n"]
    assert survey["completion_rate"] == round(complete["n"] / answered["n"], 4)
    # Every answered call either completed or stopped at exactly one question.
    assert sum(q["stopped"] for q in survey["questions"]) == answered["n"] - complete["n"]
    long_csv = list(csv.reader(io.StringIO(dialer("report", "--format", "csv", config=path).stdout)))
    got = Counter({row[1]: int(row[2]) for row in long_csv if row[0] == "survey_answers"})
    assert got == Counter({f"{r['question']}={r['meaning']}": r["n"] for r in stored if r["status"] == "answered"})
    wide = list(csv.DictReader(io.StringIO(dialer("report", "--format", "csv", "--wide", config=path).stdout)))
    c1 = next(row for row in wide if row["campaign"] == "c1")
    assert int(c1["survey.complete"]) == complete["n"]
    assert int(c1["survey.satisfied=yes"]) == survey["questions"][0]["distribution"]["yes"]
    table = dialer("report", config=path).stdout
    assert "survey c1" in table
    assert "satisfied" in table
    html = dialer("report", "--format", "html", config=path).stdout
    assert "<h2>Survey c1</h2>" in html
    assert "yes: " in html


async def test_contact_show_select_and_forget(tmp_path, survey_sim):
    config, path = await surveyed(tmp_path, survey_sim)
    said = await rows(config, "SELECT a.number, s.question, s.meaning FROM survey_answers s JOIN attempts a "
                              "ON a.call_id = s.call_id WHERE s.status = 'answered' ORDER BY s.id")
    person = said[0]["number"]
    shown = json.loads(dialer("contact", "show", person, "--format", "json", config=path).stdout)
    assert [(a["question"], a["meaning"]) for a in shown["survey_answers"]] == [
        (r["question"], r["meaning"]) for r in said if r["number"] == person]
    assert "survey answers" in dialer("contact", "show", person, config=path).stdout
    # Targeting: everyone whose answer to `satisfied` was no becomes a lead of the follow-up campaign.
    no = sorted({r["number"] for r in said if r["question"] == "satisfied" and r["meaning"] == "no"})
    assert no
    dry = dialer("survey", "select", "c2", "--from", "c1", "--question", "satisfied", "--answer", "no",
                 "--dry-run", config=path)
    assert f"{len(no)} number(s) selected; nothing changed" in dry.stdout
    assert await rows(config, "SELECT 1 FROM leads WHERE campaign_id = 'c2'") == []
    selected = dialer("survey", "select", "c2", "--from", "c1", "--question", "satisfied", "--answer", "no",
                      config=path)
    assert f"{len(no)} new lead(s) in c2" in selected.stdout, selected.stderr
    leads = await rows(config, "SELECT number, status FROM leads WHERE campaign_id = 'c2' ORDER BY number")
    assert [(lead["number"], lead["status"]) for lead in leads] == [(n, "pending") for n in no]
    again = dialer("survey", "select", "c2", "--from", "c1", "--question", "satisfied", "--answer", "no",
                   config=path)
    assert "0 new lead(s)" in again.stdout  # a number already a lead there keeps its lead
    bad = dialer("survey", "select", "c1", "--from", "c1", "--question", "nope", "--answer", "no", config=path)
    assert bad.returncode == 2
    assert "has no question 'nope'" in bad.stderr
    [before] = await rows(config, "SELECT COUNT(*) AS n FROM survey_answers")
    [theirs] = await rows(config, "SELECT COUNT(*) AS n FROM survey_answers s JOIN attempts a "
                                  "ON a.call_id = s.call_id WHERE a.number = ?", (person,))
    assert theirs["n"] > 0
    forgot = dialer("forget", person, "--yes", config=path)
    assert forgot.returncode == 0, forgot.stderr
    assert "survey answer(s)" in forgot.stdout
    left = await rows(config, "SELECT COUNT(*) AS n FROM survey_answers s JOIN attempts a ON a.call_id = s.call_id "
                              "WHERE a.number = ? OR a.number LIKE 'erased:%'", (person,))
    assert left[0]["n"] == 0
    [after] = await rows(config, "SELECT COUNT(*) AS n FROM survey_answers")
    assert after["n"] == before["n"] - theirs["n"]  # everyone else's answers stay
    assert f"{theirs['n']} survey answer(s)" in forgot.stdout
    shown = json.loads(dialer("contact", "show", person, "--format", "json", config=path).stdout or "{}")
    assert not shown.get("survey_answers")
