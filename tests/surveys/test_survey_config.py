"""[campaigns.NAME.survey]: what check-config accepts and the one line it gives for what it refuses."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.config import ConfigError, parse_config
from dialer.surveys.channel_vars import survey_variables
from dialer.surveys.config import SurveyConfig
from tests.surveys.conftest import SURVEY


def config_with(survey: dict[str, Any] | None, **campaign: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"trunk": "t", "caller_id": "+14155550100", "mode": "survey", **campaign}
    if survey is not None:
        body["survey"] = survey
    return {"trunks": {"t": {"channel": "PJSIP/{number}@c"}}, "campaigns": {"poll": body}}


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, require_secret=False)
    return caught.value.problems


def test_the_example_survey_is_accepted_and_becomes_channel_variables():
    config = parse_config(config_with(SURVEY), require_secret=False)
    survey = config.campaigns["poll"].survey
    assert survey is not None
    variables = survey_variables(survey)
    assert variables["DIALER_MODE"] == "survey"
    assert variables["DIALER_SQ_COUNT"] == "3"
    assert variables["DIALER_SQ1_K1"] == "2"  # yes -> the next question
    assert variables["DIALER_SQ1_K2"] == "3"  # no -> why
    assert (variables["DIALER_SQ2_MIN"], variables["DIALER_SQ2_MAX"], variables["DIALER_SQ2_NEXT"]) == ("0", "8", "E")
    assert variables["DIALER_SQ2_OPTS"] == "t(#)"
    assert variables["DIALER_SQ1_OPTS"] == "t"
    assert variables["DIALER_SQ3_K3"] == "E"  # the last question's `next` is the end
    assert all("," not in v and "&" not in v for v in variables.values())


def test_a_route_back_to_an_earlier_question_is_refused_as_a_loop():
    survey = copy.deepcopy(SURVEY)
    survey["questions"][2]["keys"]["1"]["next"] = "satisfied"
    [line] = problems(config_with(survey))
    assert line.startswith("campaigns.poll.survey")
    assert "loop forever: satisfied -> why -> satisfied" in line


def test_a_missing_question_name_is_named():
    survey = copy.deepcopy(SURVEY)
    survey["questions"][0]["keys"]["2"]["next"] = "reason"
    [line] = problems(config_with(survey))
    assert "question satisfied: key 2 leads to 'reason', which is no question" in line


def test_the_optout_key_may_not_mean_anything_else():
    survey = copy.deepcopy(SURVEY)
    survey["questions"][2]["keys"]["9"] = {"meaning": "other"}
    [line] = problems(config_with(survey))
    assert "question why: key 9 is the opt-out key" in line
    moved = config_with(survey, variables={"DIALER_OPTOUT_KEY": "*"})  # another opt-out key frees 9
    assert parse_config(moved, require_secret=False).campaigns["poll"].optout_key == "*"


def test_a_number_range_that_includes_the_optout_key_is_refused():
    survey = copy.deepcopy(SURVEY)
    survey["questions"][1]["range"] = {"min": 0, "max": 10}
    [line] = problems(config_with(survey))
    assert "the range 0-10 includes the opt-out key 9" in line


def test_survey_mode_needs_its_table_and_the_table_needs_the_mode():
    assert "needs a [campaigns.NAME.survey] table" in problems(config_with(None))[0]
    assert "only for mode = \"survey\"" in problems(config_with(SURVEY, mode="message"))[0]


def test_a_question_has_keys_or_a_range_not_both():
    survey = copy.deepcopy(SURVEY)
    survey["questions"][1]["keys"] = {"1": {"meaning": "one"}}
    assert "give either keys or range" in problems(config_with(survey))[0]


def _reaches_itself(routes: list[dict[str, str]], names: list[str]) -> bool:
    """The oracle: walk every path (transitive closure), independent of the checker's search."""
    n = len(names)
    edges = [[False] * n for _ in range(n)]
    for i, keys in enumerate(routes):
        for route in keys.values():
            j = i + 1 if route == "next" else (names.index(route) if route in names else None)
            if j is not None and j < n:
                edges[i][j] = True
    for k in range(n):
        for i in range(n):
            for j in range(n):
                edges[i][j] = edges[i][j] or (edges[i][k] and edges[k][j])
    return any(edges[i][i] for i in range(n))


@st.composite
def surveys(draw: st.DrawFn) -> tuple[list[dict[str, str]], list[str]]:
    n = draw(st.integers(1, 6))
    names = [f"q{i}" for i in range(n)]
    targets = st.sampled_from([*names, "next", "end", "queue"])
    routes = [draw(st.dictionaries(st.sampled_from("0123"), targets, min_size=1, max_size=4)) for _ in names]
    return routes, names


@settings(max_examples=150, deadline=None)
@given(surveys())
def test_a_survey_is_refused_exactly_when_its_routes_can_loop(drawn: tuple[list[dict[str, str]], list[str]]):
    routes, names = drawn
    data = {"questions": [{"name": name, "prompt": "p", "keys": {k: {"meaning": k, "next": r} for k, r in keys.items()}}
                          for name, keys in zip(names, routes, strict=True)]}
    if _reaches_itself(routes, names):
        with pytest.raises(ValueError, match="loop forever"):
            SurveyConfig.model_validate(data)
    else:
        SurveyConfig.model_validate(data)


def test_check_config_gives_one_line_naming_the_file_the_survey_and_the_loop(tmp_path):
    from tests.cli.test_commands import dialer, write_config

    extra = """[campaigns.poll]
trunk = "sim"
caller_id = "+14155550100"
mode = "survey"
[[campaigns.poll.survey.questions]]
name = "first"
prompt = "dialer/q1"
keys = { "1" = { meaning = "yes" } }
[[campaigns.poll.survey.questions]]
name = "second"
prompt = "dialer/q2"
keys = { "1" = { meaning = "again", next = "first" } }
"""
    path = write_config(tmp_path, 5038, extra=extra)
    result = dialer("check-config", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {path}: campaigns.poll.survey: questions can loop forever")
    assert "loop forever: first -> second -> first" in lines[0]
    assert "Traceback" not in result.stderr
