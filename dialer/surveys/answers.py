"""A DialerSurveyAnswer UserEvent read against the campaign's survey: what the keys mean, where they lead."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from dialer.ami.frames import Message
from dialer.surveys.config import SurveyConfig

USER_EVENT = "DialerSurveyAnswer"
NO_ANSWER = "(no answer)"  # the meaning stored when the tries ran out
Status = Literal["answered", "no_answer"]


@dataclass(frozen=True, slots=True)
class SurveyAnswerEvent:
    """One answer as the dialplan reported it (UserEvent DialerSurveyAnswer)."""

    call_id: str
    question: str
    keys: str
    status: Status
    at: float | None = None  # when it was given, for an answer read back from Asterisk's record



@dataclass(frozen=True, slots=True)
class ReadAnswer:
    """An answer with what the config gives it: meaning, where it led, its follow-ups."""

    call_id: str
    question: str
    position: int  # the question's place in the survey, from 1
    keys: str
    meaning: str
    status: Status
    leads_to: str  # a question name, end or queue ("end" when the tries ran out)
    tag: str = ""
    callback: bool = False


def parse_event(message: Message) -> SurveyAnswerEvent | None:
    """The answer in a UserEvent, or None when it is no well-formed DialerSurveyAnswer."""
    if message.get("UserEvent") != USER_EVENT:
        return None
    call_id, question = message.get("CallID", ""), message.get("Question", "")
    if not call_id or not question:
        return None
    status: Status = "no_answer" if message.get("Status") == "no_answer" else "answered"
    return SurveyAnswerEvent(call_id, question, message.get("Keys", "").strip(), status, _time(message.get("At")))


def _time(text: str | None) -> float | None:
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value > 0 else None


def read_answer(survey: SurveyConfig, event: SurveyAnswerEvent) -> ReadAnswer | None:
    """The event's meaning under `survey` (None when the question is not one of its questions).

    Keys the config does not accept (a dialplan out of step with the config) are kept with the
    meaning `(unknown)`: the raw keys are what the callee pressed, whatever the config says now.
    """
    names = [q.name for q in survey.questions]
    if event.question not in names:
        return None
    index = names.index(event.question)
    question = survey.questions[index]
    if event.status == "no_answer":
        return ReadAnswer(event.call_id, question.name, index + 1, event.keys, NO_ANSWER, "no_answer", "end")
    meaning = question.meaning(event.keys)
    answer = question.answer(event.keys)
    route = question.next if answer is None or not answer.next else answer.next
    return ReadAnswer(event.call_id, question.name, index + 1, event.keys,
                      meaning if meaning is not None else "(unknown)", "answered",
                      survey.target(index, route), tag=answer.tag if answer else "",
                      callback=bool(answer and answer.callback))
