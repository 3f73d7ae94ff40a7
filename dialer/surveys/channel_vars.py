"""The survey as channel variables: what config/asterisk/extensions_dialer.conf [dialer-survey] reads.

Per question i (1-based, in config order):

    DIALER_SQ<i>_NAME     the question's name (reported back in UserEvent DialerSurveyAnswer)
    DIALER_SQ<i>_PROMPT   the sound Read() plays
    DIALER_SQ<i>_DIGITS   Read()'s maxdigits: 1 for a key question, the digits of max for a range
    DIALER_SQ<i>_OPTS     Read()'s options: `t` (no terminator, so # can be a key) or `t(#)`
    DIALER_SQ<i>_TRIES    plays of the prompt without a valid answer
    DIALER_SQ<i>_TIMEOUT  seconds to answer after the prompt
    DIALER_SQ<i>_K<k>     key question: where key k leads (k = 0-9, S for *, H for #)
    DIALER_SQ<i>_MIN/_MAX/_NEXT  range question: the bounds and where a valid number leads

A destination is a question number, E (closing sound, hang up) or Q (the campaign's queue).
Values carry no comma (Originate splits Variable headers on commas) and no `&` (Read()'s file list).
"""

from __future__ import annotations

from dialer.surveys.config import SurveyConfig

KEY_CODES = {"*": "S", "#": "H"}


def key_code(key: str) -> str:
    """The part of a variable name that stands for a key (* and # cannot be in a name)."""
    return KEY_CODES.get(key, key)


def destination(survey: SurveyConfig, index: int, route: str) -> str:
    """A route of question `index` (0-based) as the dialplan reads it: a question number, E or Q."""
    target = survey.target(index, route)
    if target == "end":
        return "E"
    if target == "queue":
        return "Q"
    names = [q.name for q in survey.questions]
    return str(names.index(target) + 1)


def survey_variables(survey: SurveyConfig) -> dict[str, str]:
    """Every channel variable the dialplan needs to run the survey (DIALER_MODE included)."""
    out = {"DIALER_MODE": "survey", "DIALER_SURVEY_INTRO": survey.intro, "DIALER_SURVEY_CLOSING": survey.closing,
           "DIALER_SQ_COUNT": str(len(survey.questions))}
    for index, question in enumerate(survey.questions):
        prefix = f"DIALER_SQ{index + 1}_"
        out[prefix + "NAME"] = question.name
        out[prefix + "PROMPT"] = question.prompt
        out[prefix + "DIGITS"] = str(question.max_digits())
        out[prefix + "OPTS"] = "t" if question.range is None else f"t({question.terminator})"
        out[prefix + "TRIES"] = str(question.tries)
        out[prefix + "TIMEOUT"] = str(question.timeout_s)
        if question.range is not None:
            out[prefix + "MIN"] = str(question.range.min)
            out[prefix + "MAX"] = str(question.range.max)
            out[prefix + "NEXT"] = destination(survey, index, question.next)
        for key, route in question.routes().items():
            if question.range is None:
                out[prefix + "K" + key_code(key)] = destination(survey, index, route)
    return out
