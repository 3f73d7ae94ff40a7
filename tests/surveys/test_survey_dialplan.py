"""config/asterisk/extensions_dialer.conf [dialer-survey]: its labels exist, it reads only the channel
variables the dialer passes (dialer.surveys.channel_vars), and its UserEvent carries the headers the
daemon reads (dialer.surveys.answers)."""

from __future__ import annotations

import re

from dialer.ami.frames import Message
from dialer.config import parse_config
from dialer.surveys.answers import parse_event
from dialer.surveys.channel_vars import survey_variables
from tests.recordings.test_asterisk_snippets import ASTERISK, sections
from tests.surveys.conftest import SURVEY
from tests.surveys.test_survey_config import config_with


def priorities() -> list[tuple[str, str]]:
    """[dialer-survey] as (label, `App(args)`), label "" where there is none."""
    found = []
    for key, value in sections(ASTERISK / "extensions_dialer.conf")["dialer-survey"]:
        priority, app = (value.split(",", 2)[1:] if key == "exten" else value.split(",", 1))
        label = re.search(r"\((\w+)\)", priority)
        found.append((label.group(1) if label else "", app))
    return found


def steps() -> list[str]:
    return [app for _, app in priorities()]


def test_every_goto_target_is_a_label_of_the_context_or_a_named_place():
    labels = {label for label, _ in priorities() if label}
    targets = set()
    for step in steps():
        for branch in re.findall(r"\?([\w,-]+)(?::([\w,-]+))?\)$", step):
            targets |= {t for t in branch if t}
        targets |= set(re.findall(r"^Goto\((\w+)\)$", step))
    local = {t for t in targets if "," not in t}
    assert local <= labels
    assert {t for t in targets if "," in t} == {"dialer-outbound,s,queue"}
    outbound = "\n".join(v for _, v in sections(ASTERISK / "extensions_dialer.conf")["dialer-outbound"])
    assert "(queue)" in outbound
    assert "dialer-survey,s,1" in outbound  # entered from [dialer-outbound]


def test_the_context_reads_only_variables_the_dialer_passes():
    config = parse_config(config_with(SURVEY), require_secret=False)
    survey = config.campaigns["poll"].survey
    assert survey is not None
    passed = survey_variables(survey)
    text = "\n".join(steps())
    per_question = set(re.findall(r"DIALER_SQ\$\{Q\}_([A-Z]+)", text))
    suffixes = {re.sub(r"^DIALER_SQ\d+_", "", name) for name in passed if re.match(r"DIALER_SQ\d+_", name)}
    assert per_question - {"K"} <= suffixes
    assert any(s.startswith("K") for s in suffixes)
    plain = set(re.findall(r"\$\{(DIALER_[A-Z_]+)\}", text)) - {"DIALER_CALL_ID", "DIALER_OPTOUT_KEY"}
    assert plain <= set(passed)


def test_the_answer_event_has_the_headers_the_daemon_reads():
    events = [s for s in steps() if "UserEvent(DialerSurveyAnswer" in s]
    assert len(events) == 2  # an answer, and the tries running out
    for step in events:
        headers = re.findall(r",([A-Za-z]+): ", step)
        assert headers == ["CallID", "Question", "Keys", "Status"]
    message = Message()
    message.update({"Event": "UserEvent", "UserEvent": "DialerSurveyAnswer", "CallID": "c1", "Question": "score",
                    "Keys": "7", "Status": "answered"})
    event = parse_event(message)
    assert event is not None
    assert (event.call_id, event.question, event.keys, event.status) == ("c1", "score", "7", "answered")
