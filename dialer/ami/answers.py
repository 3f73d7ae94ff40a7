"""What Asterisk's answer to an action says was done: done, refused, or not known.

An action whose answer cannot be read may have been carried out: Asterisk acts on the action
before it writes the response, and a response can be lost with the connection, cut short, glued
to other bytes (dropped by the frame parser), or never come. So only an answer in a form we
recognise counts as a refusal; everything else is "unconfirmed" and must never be treated as
"not done" (for an Originate that means a second call to a person who may be talking already).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from dialer.ami.frames import Message

# manager.c answers this to an action the session may not run (not logged in, or the user lacks the
# action's write class); transcript 02 (`Action: Ping` before login). Nothing was done.
PERMISSION_REFUSALS = frozenset({"Permission denied"})


class Answer(StrEnum):
    """The three things an answer can mean."""

    DONE = "done"  # `Response: Success`
    REFUSED = "refused"  # `Response: Error` with a message known to mean "not done"
    UNCONFIRMED = "unconfirmed"  # anything else: it may have been done


@dataclass(frozen=True, slots=True)
class Verdict:
    """The meaning of one answer, and a one-line detail for logs and the attempt row."""

    answer: Answer
    detail: str


def judge_response(response: Message, refused: Callable[[str], bool]) -> Verdict:
    """Judge a response that arrived; `refused(message)` says whether an Error message means "not done"."""
    status = response.get("Response")
    message = response.get("Message", "")
    if status == "Success":
        return Verdict(Answer.DONE, message)
    if status == "Error" and (refused(message) or message in PERMISSION_REFUSALS):
        return Verdict(Answer.REFUSED, message)
    if status is None:
        return Verdict(Answer.UNCONFIRMED, "answer without a Response line")
    shown = f"{status}: {message}" if message else status
    return Verdict(Answer.UNCONFIRMED, f"answer not recognised ({shown[:120]})")


def judge_future(future: asyncio.Future[Message], refused: Callable[[str], bool]) -> Verdict:
    """Judge a finished action future: its response, or why there is none (timeout, lost connection)."""
    if future.cancelled():
        return Verdict(Answer.UNCONFIRMED, "the wait for the answer was cancelled")
    exc = future.exception()
    if exc is not None:
        return Verdict(Answer.UNCONFIRMED, f"no answer: {exc}")
    return judge_response(future.result(), refused)
