"""Dispositions, and the one table that maps Asterisk's Reason and Hangup Cause codes to them.

Facts from a real Asterisk 22 (tests/fixtures/ami-transcripts): OriginateResponse Reason is 4
answered, 5 busy, 8 congestion, 3 no answer, and 0 for every other failure, so a Reason 0 is
refined by the Q.850 Hangup Cause of the callee-side leg (with Local channels the `;2` leg; the
`;1` leg shows 0 for busy and congestion).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Disposition(StrEnum):
    """How an attempt ended."""

    ANSWERED = "answered"
    MACHINE = "machine"
    ABANDONED = "abandoned"
    OPTED_OUT = "opted_out"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    REJECTED = "rejected"
    INVALID_NUMBER = "invalid_number"
    FAILED = "failed"
    BLOCKED = "blocked"
    UNKNOWN = "unknown"
    UNKNOWN_AFTER_RESTART = "unknown_after_restart"
    ACCEPTED = "accepted"  # a text message Asterisk (or the GSM gateway) accepted for sending


LIVE_ANSWER = frozenset({Disposition.ANSWERED, Disposition.ABANDONED, Disposition.OPTED_OUT})
"""Dispositions where a person picked up (the denominator of the abandon rate)."""

# OriginateResponse Reason (Asterisk's AST_CONTROL_* outcome of the dial).
REASON_DISPOSITION: dict[int, Disposition] = {
    4: Disposition.ANSWERED,
    5: Disposition.BUSY,
    8: Disposition.CONGESTION,
    3: Disposition.NO_ANSWER,
}

# Q.850 cause on the callee-side leg, used when Reason is 0 (or missing after a reconnect).
CAUSE_DISPOSITION: dict[int, Disposition] = {
    1: Disposition.INVALID_NUMBER,  # unallocated (unassigned) number
    2: Disposition.INVALID_NUMBER,  # no route to specified transit network
    3: Disposition.INVALID_NUMBER,  # no route to destination
    22: Disposition.INVALID_NUMBER,  # number changed
    28: Disposition.INVALID_NUMBER,  # invalid number format (incomplete number)
    17: Disposition.BUSY,  # user busy
    18: Disposition.NO_ANSWER,  # no user responding
    19: Disposition.NO_ANSWER,  # no answer from user (user alerted)
    20: Disposition.NO_ANSWER,  # subscriber absent
    21: Disposition.REJECTED,  # call rejected
    34: Disposition.CONGESTION,  # no circuit/channel available
    38: Disposition.CONGESTION,  # network out of order
    41: Disposition.CONGESTION,  # temporary failure
    42: Disposition.CONGESTION,  # switching equipment congestion
    44: Disposition.CONGESTION,  # requested channel not available
    27: Disposition.FAILED,  # destination out of order
}


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the tracker observed about one call, in the terms the classifier needs."""

    reason: int | None  # OriginateResponse Reason, None if it never arrived
    callee_cause: int | None  # Q.850 cause of the callee-side leg's Hangup
    answered: bool  # a channel of the call reached Up
    amd_status: str | None = None  # AMDSTATUS from the dialplan: HUMAN / MACHINE / NOTSURE / HANGUP
    opted_out: bool = False  # the dialplan reported an opt-out key
    abandoned: bool = False  # answered but no agent or message reached the callee in time


def classify(facts: CallFacts) -> Disposition:
    """The disposition of a finished call."""
    answered = facts.reason == 4 or facts.answered
    if answered:
        if facts.opted_out:
            return Disposition.OPTED_OUT
        if facts.amd_status == "MACHINE":
            return Disposition.MACHINE
        if facts.abandoned:
            return Disposition.ABANDONED
        return Disposition.ANSWERED
    if facts.reason is not None and facts.reason in REASON_DISPOSITION:
        return REASON_DISPOSITION[facts.reason]
    if facts.callee_cause is not None and facts.callee_cause in CAUSE_DISPOSITION:
        return CAUSE_DISPOSITION[facts.callee_cause]
    if facts.reason is None and facts.callee_cause is None:
        return Disposition.UNKNOWN
    return Disposition.FAILED
