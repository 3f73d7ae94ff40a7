"""What an answer to an action means: only a refusal we recognise is "not done" (issue 11)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.ami.answers import PERMISSION_REFUSALS, Answer, judge_future, judge_response
from dialer.ami.errors import AmiDisconnected, AmiTimeout
from dialer.ami.frames import FrameParser, Message
from dialer.ami.originate import ORIGINATE_REFUSALS, originate_refused
from tests.transcripts import stream


def _message(**headers: str) -> Message:
    message = Message()
    message.update(headers)
    return message


def _recorded_originate_errors() -> set[str]:
    """Every `Response: Error` message Asterisk 22.10.1 gave an Originate (transcript 23)."""
    messages = FrameParser().feed(stream("23-originate-sync-and-errors.txt"))
    return {m["Message"] for m in messages
            if m.get("Response") == "Error" and "Event" not in m and m.get("ActionID", "").startswith("orig-")}


def test_the_refusal_table_is_what_asterisk_was_seen_to_send():
    assert _recorded_originate_errors() == ORIGINATE_REFUSALS


@pytest.mark.parametrize("text", sorted(ORIGINATE_REFUSALS | PERMISSION_REFUSALS))
def test_a_recognised_refusal_means_not_placed(text):
    verdict = judge_response(_message(Response="Error", ActionID="c-1", Message=text), originate_refused)
    assert (verdict.answer, verdict.detail) == (Answer.REFUSED, text)


def test_success_means_placed():
    ok = _message(Response="Success", ActionID="c-1", Message="Originate successfully queued")
    assert judge_response(ok, originate_refused).answer is Answer.DONE


@given(st.text(max_size=80).filter(lambda t: t not in ORIGINATE_REFUSALS | PERMISSION_REFUSALS))
def test_any_other_error_text_is_unconfirmed(text):
    verdict = judge_response(_message(Response="Error", ActionID="c-1", Message=text), originate_refused)
    assert verdict.answer is Answer.UNCONFIRMED


@given(st.sampled_from(["Goodbye", "Follows", "success", "Error ", "", "Fail"]),
       st.sampled_from(sorted(ORIGINATE_REFUSALS)))
def test_a_refusal_text_under_another_status_is_unconfirmed(status, text):
    response = _message(Response=status, ActionID="c-1", Message=text)
    assert judge_response(response, originate_refused).answer is Answer.UNCONFIRMED


def test_a_refusal_text_without_a_response_line_is_unconfirmed():
    response = _message(ActionID="c-1", Message="Originate failed")
    verdict = judge_response(response, originate_refused)
    assert (verdict.answer, verdict.detail) == (Answer.UNCONFIRMED, "answer without a Response line")


@pytest.mark.parametrize("error", [AmiTimeout("Originate: no response within 1 s"),
                                   AmiDisconnected("connection lost: reset")])
async def test_no_answer_at_all_is_unconfirmed(error):
    future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
    future.set_exception(error)
    verdict = judge_future(future, originate_refused)
    assert verdict.answer is Answer.UNCONFIRMED
    assert str(error) in verdict.detail
