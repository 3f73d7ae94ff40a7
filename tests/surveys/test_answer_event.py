"""A DialerSurveyAnswer read from the live UserEvent or rebuilt from Asterisk's record (with `At`,
the time the answer was given): the same event, the record's time kept."""

from __future__ import annotations

from dialer.ami.frames import Message
from dialer.surveys.answers import parse_event


def user_event(**headers: str) -> Message:
    message = Message()
    message.update({"Event": "UserEvent", "UserEvent": "DialerSurveyAnswer", **headers})
    return message


def test_a_live_answer_has_no_time_of_its_own_and_a_recorded_one_keeps_its_time():
    live = parse_event(user_event(CallID="c1", Question="likes", Keys="2", Status="answered"))
    recorded = parse_event(user_event(CallID="c1", Question="likes", Keys="2", Status="answered", At="1764700000.0"))
    assert live is not None
    assert recorded is not None
    assert live.at is None
    assert recorded.at == 1764700000.0
    assert (live.call_id, live.question, live.keys, live.status) == (
        recorded.call_id, recorded.question, recorded.keys, recorded.status)


def test_a_time_that_is_not_one_is_ignored():
    for bad in ("", "soon", "nan", "-5", "inf"):
        event = parse_event(user_event(CallID="c1", Question="likes", Keys="2", Status="answered", At=bad))
        assert event is not None
        assert event.at is None
